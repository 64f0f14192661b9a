// Images reach a ViT as transformers' image processor (its Pillow backend) and timm's eval transform
// make them: Pillow's resize with the checkpoint's filter, then the centre crop. Checked against
// Pillow and transformers 5.17 in the peer venv: ViTImageProcessor folders written by save_pretrained
// (straight to S x S, and shortest edge + centre crop, with bilinear, bicubic and lanczos), and a timm
// pretrained_cfg, named and left to timm's defaults (crop_pct 0.875, bicubic: Pillow's resize, then the
// crop torchvision makes, half the margin rounded half to even), on noisy images of odd sizes, shrunk and enlarged. Before, sharp's lanczos3 resize was 8-10
// levels of 255 off on average and up to 155 at worst.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadImageFile, readPreprocessing } from '../../src/data/images.js';
import { resizeImage } from '../../src/data/resample.js';

const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasPeer = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import transformers, PIL, numpy'], { encoding: 'utf8' }).status === 0;

const REFERENCE = String.raw`
import json, os, sys
import numpy as np
from PIL import Image
from transformers import ViTImageProcessor
from transformers.utils import logging
logging.set_verbosity_error()
out = sys.argv[1]
rng = np.random.default_rng(7)
images = []
for i, (w, h) in enumerate([(300, 200), (37, 61), (513, 341), (224, 224), (9, 7)]):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 / w, y * 255 / h, ((x + y) % 64) * 4], -1) + rng.normal(0, 25, (h, w, 3))
    path = os.path.join(out, f"img{i}.png")
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(path)
    images.append(path)
cases = []
def record(kind, folder, image, pixels):
    ref = os.path.join(out, f"ref{len(cases)}.bin")
    np.asarray(pixels, dtype=np.float32).tofile(ref)
    cases.append({"kind": kind, "folder": folder, "image": image, "ref": ref})
mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
for resample in (1, 2, 3):
    for crop in (False, True):
        folder = os.path.join(out, f"hf-{resample}-{crop}")
        kw = dict(do_center_crop=True, size={"shortest_edge": 27}, crop_size={"height": 24, "width": 24}) if crop else dict(size={"height": 24, "width": 24})
        p = ViTImageProcessor(resample=resample, image_mean=mean, image_std=std, **kw)
        p.save_pretrained(folder)
        for image in images:
            record("hf", folder, image, p(Image.open(image).convert("RGB"), return_tensors="np")["pixel_values"][0])
# timm: crop_pct 0.9 and bicubic named; then neither (timm's defaults, 0.875 and bicubic).
for name, cfg, crop_pct in (("timm", {"crop_pct": 0.9, "interpolation": "bicubic"}, 0.9), ("timm-defaults", {}, 0.875)):
    folder = os.path.join(out, name)
    os.makedirs(folder)
    json.dump({"pretrained_cfg": {"mean": mean, "std": std, **cfg}}, open(os.path.join(folder, "config.json"), "w"))
    for image in images:
        im = Image.open(image).convert("RGB")
        w, h = im.size
        short = int(24 / crop_pct)
        nw, nh = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
        im = im.resize((nw, nh), Image.BICUBIC)
        top, left = int(round((nh - 24) / 2.0)), int(round((nw - 24) / 2.0))
        a = np.asarray(im.crop((left, top, left + 24, top + 24)), dtype=np.float32) / 255
        record("timm", folder, image, ((a - mean) / std).transpose(2, 0, 1))
print(json.dumps(cases))
`;

test('images are resized and cropped as transformers (Pillow) and timm resize them, value for value', { skip: hasPeer ? false : `no python with transformers and Pillow at ${PYTHON} (set GIFTJS_PEER_PYTHON, or run ../shared/peer/setup_peer.sh)` }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-resize-'));
  const r = spawnSync(PYTHON, ['-c', REFERENCE, dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const cases = JSON.parse(r.stdout.trim().split('\n').pop()!) as { kind: string; folder: string; image: string; ref: string }[];
  assert.equal(cases.length, 40);
  for (const c of cases) {
    const p = readPreprocessing(c.folder, 24, 3);
    const ours = await loadImageFile(c.image, p);
    const ref = new Float32Array(readFileSync(c.ref).buffer.slice(0));
    assert.equal(ours.length, ref.length);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
    // Whole levels apart would be >= 1/255/0.3 = 0.013 here; what remains is float rounding.
    assert.ok(worst < 1e-4, `${c.kind} ${c.folder} ${c.image}: ${worst} from the reference`);
  }
});

test('Pillow\'s resize by hand: a 4 x 1 row halved with bilinear; enlarged, a constant stays constant', () => {
  // Halving widens the triangle to 2 input pixels each side of the centres 1 and 3: taps at 0.5, 1.5, 2.5
  // weigh 0.75, 0.75, 0.25 (then / 1.75): (10 * 0.75 + 20 * 0.75 + 31 * 0.25) / 1.75 = 17.29, and
  // (20 * 0.25 + 31 * 0.75 + 40 * 0.75) / 1.75 = 33.29 (Pillow 12.3 gives 17 and 33).
  assert.deepEqual([...resizeImage(Uint8Array.from([10, 20, 31, 40]), 4, 1, 1, 2, 1, 'bilinear')], [17, 33]);
  assert.deepEqual([...resizeImage(new Uint8Array(5 * 3 * 3).fill(77), 5, 3, 3, 11, 7, 'lanczos')], Array(11 * 7 * 3).fill(77));
});

const ORIENTED = String.raw`
import json, os, sys
import numpy as np
from PIL import Image
from transformers import ViTImageProcessor
from transformers.image_utils import load_image
from transformers.utils import logging
logging.set_verbosity_error()
out = sys.argv[1]
rng = np.random.default_rng(11)
base = np.clip(rng.normal(128, 60, (5, 9, 3)), 0, 255).astype(np.uint8)
p = ViTImageProcessor(size={"height": 6, "width": 6}, image_mean=[0, 0, 0], image_std=[1, 1, 1])
p.save_pretrained(os.path.join(out, "hf"))
cases = []
for orientation in range(1, 9):
    image = Image.fromarray(base)
    exif = image.getexif()
    exif[0x0112] = orientation
    path = os.path.join(out, f"o{orientation}.jpg")
    image.save(path, exif=exif, quality=100)
    upright = load_image(path)  # transformers' loader: ImageOps.exif_transpose, then RGB
    ref = os.path.join(out, f"o{orientation}.bin")
    p(upright, return_tensors="np")["pixel_values"][0].astype(np.float32).tofile(ref)
    cases.append({"image": path, "ref": ref, "size": list(upright.size)})
print(json.dumps(cases))
`;

test('a photo is turned upright by its EXIF orientation, as transformers\' load_image and datasets\' Image feature turn it (all 8)', { skip: hasPeer ? false : `no python with transformers and Pillow at ${PYTHON} (set GIFTJS_PEER_PYTHON, or run ../shared/peer/setup_peer.sh)` }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-exif-'));
  const r = spawnSync(PYTHON, ['-c', ORIENTED, dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const cases = JSON.parse(r.stdout.trim().split('\n').pop()!) as { image: string; ref: string; size: [number, number] }[];
  assert.equal(cases.length, 8);
  assert.ok(cases.some((c) => c.size[0] === 5) && cases.some((c) => c.size[0] === 9), 'some orientations swap width and height');
  const p = readPreprocessing(join(dir, 'hf'), 6, 3);
  for (const [k, c] of cases.entries()) {
    const ours = await loadImageFile(c.image, p);
    const bytes = readFileSync(c.ref); // small: a view into Node's shared pool, read at its offset
    const ref = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    assert.equal(ours.length, ref.length);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
    assert.ok(worst < 1e-5, `orientation ${k + 1}: ${worst} from transformers' (a level is 0.0039)`);
  }
});
