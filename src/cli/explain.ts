// gift explain: GIFT's cluster maps for one GIFT layer of a fine-tuned model -- heat maps over an
// image's patches (one per prototype, before and after the adapter, and a grid), or, for a text
// model, the tokens of an input that respond most to each prototype.
import { requireModelFolder } from './model_loading.js';
import { loadSharp } from '../io/optional_package.js';
import { assertOutputApart } from '../io/output_folder.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { collateSeqCls } from '../data/seqcls.js';
import { loadImageFile, readPreprocessing } from '../data/images.js';
import { clusterMaps, giftLayers, topTokens, type GiftLayer } from '../explain/cluster_maps.js';
import { writeClusterMaps } from '../explain/heatmap.js';
import { argmax } from '../eval/metrics.js';
import { Tokenizer } from '../io/tokenizer.js';
import { loadImageClassifier, loadSequenceClassifier } from '../models/registry.js';
import { imagesToPatches } from '../models/vit/model.js';
import type { Module } from '../nn/module.js';
import { ADAPTER_CONFIG, loadAdapter, readAdapterConfig } from '../peft/adapter_io.js';
import { headOptionsOfTask, taskInfoFromAdapterConfig, type AdapterTask } from '../train/classifier_run.js';
import { layerIndexOf } from '../peft/targets.js';
import { intOption, parse, requireString } from './args.js';
import { assertClassifierEvalFits } from './classifier_eval_memory.js';
import { readViTConfig } from '../models/vit/config.js';
import { GiftjsError } from '../errors.js';

export const EXPLAIN_HELP = `gift explain --model <dir|org/name> --adapter <dir> (--image <file> --out <dir> | --text "...") [--layer N] [--group name] [--top K] [--memory-limit SIZE]

GIFT's cluster maps. For the chosen GIFT layer (default: the deepest GIFT layer; --group and --layer
pick another), W @ phi^T gives rank prototype vectors; each token's (image patch's) output of that layer
dotted with them gives rank response maps, computed with the pretrained model (before) and with the
adapter (after).
  --image <file> --out <dir>   ViT: writes prototype_<k>_before.png / _after.png (heat over the image)
                               and grid.png (rows before / after; columns the image, then each prototype)
  --text "..."                 text classifiers: the --top K (default 5) tokens responding most to each prototype
  --layer N                    the block whose GIFT layer to use   --size S   side of the drawn tiles (default 224)
  --memory-limit SIZE          the budget the model's forward of one input is estimated against before
                               loading (default: the memory this machine has available)
`;

function chooseLayer(model: Module, values: Record<string, unknown>): GiftLayer {
  const all = giftLayers(model);
  if (all.length === 0) throw new GiftjsError('the adapter attaches no GIFT layer (gift explain needs a GIFT adapter)');
  // Default: the deepest GIFT layer's group (the last in module order).
  const group = (values.group as string | undefined) ?? all[all.length - 1]!.adapter.pair.group;
  const inGroup = all.filter((l) => l.adapter.pair.group === group);
  if (inGroup.length === 0) throw new GiftjsError(`no GIFT group '${group}' (groups: ${[...new Set(all.map((l) => l.adapter.pair.group))].join(', ')})`);
  if (values.layer === undefined) return inGroup[inGroup.length - 1]!;
  const n = intOption(values.layer, 'layer', 0, 0);
  const chosen = inGroup.find((l) => layerIndexOf(l.path) === n);
  if (!chosen) throw new GiftjsError(`--layer ${n}: group '${group}' has layers ${inGroup.map((l) => layerIndexOf(l.path)).join(', ')}`);
  return chosen;
}

export async function explainCommand(argv: string[]): Promise<number> {
  const s = { type: 'string' } as const;
  const { values } = parse(argv, { model: s, adapter: s, image: s, text: s, out: s, layer: s, group: s, top: s, size: s, 'memory-limit': s });
  if (values.help) {
    console.log(EXPLAIN_HELP);
    return 0;
  }
  const modelDir = await requireModelFolder(values, EXPLAIN_HELP);
  const adapterDir = requireString(values, 'adapter', EXPLAIN_HELP);
  const adapterConfig = readAdapterConfig(adapterDir);
  const task = adapterConfig.task as AdapterTask | undefined;
  // What one input kind reads, given with the other, is refused rather than ignored.
  if (typeof values.image === 'string' && typeof values.text === 'string') throw new GiftjsError('give --image (ViT) or --text (text classifiers), not both');
  const refuseUnread = (flags: string[], input: string) => {
    for (const flag of flags) if (values[flag] !== undefined) throw new GiftjsError(`--${flag} goes with --${flag === 'top' ? 'text' : 'image'}, not --${input}`);
  };
  if (typeof values.image === 'string') {
    refuseUnread(['top'], 'image');
    const out = requireString(values, 'out', EXPLAIN_HELP);
    assertOutputApart(out, [{ flag: '--model', path: modelDir }, { flag: '--adapter', path: adapterDir }, { flag: '--image', path: values.image }]);
    // One image's forward, twice (before and after the adapter), estimated before the weights are read.
    const head = headOptionsOfTask(task, 'image-classifier');
    const numLabels = head.labels?.length ?? readViTConfig(modelDir).config.numLabels;
    assertClassifierEvalFits(modelDir, adapterDir, { kind: 'image-classifier', batch: 1, length: 0, numLabels }, values['memory-limit'], 'gift explain');
    const model = loadImageClassifier(modelDir, head);
    loadAdapter(adapterDir, model);
    const layer = chooseLayer(model, values);
    const c = model.config;
    const pixels = await loadImageFile(values.image, readPreprocessing(modelDir, c.imageSize, c.numChannels));
    let logits: Float32Array | null = null;
    const maps = clusterMaps(layer, () => {
      logits = new Float32Array(model.forward(imagesToPatches(pixels, 1, c)).read());
    });
    const size = intOption(values.size, 'size', 224, 16);
    const sharp = await loadSharp('gift explain (reading the image)');
    const shown = await sharp(values.image).removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
    const files = await writeClusterMaps({ data: new Uint8Array(shown.data), width: size, height: size }, maps, c.imageSize / c.patchSize, true, out);
    const pred = logits ? argmax(logits) : -1;
    writeFileSync(join(out, 'explain.json'), `${JSON.stringify({ image: values.image, layer: layer.path, group: layer.adapter.pair.group, rank: maps.rank, prediction: c.labels?.[pred] ?? pred, files }, null, 2)}\n`);
    console.log(`layer ${layer.path} (GIFT group '${layer.adapter.pair.group}', ${maps.rank} prototypes); prediction (after): ${c.labels?.[pred] ?? pred}`);
    console.log(`wrote ${files.length} images to ${out} (grid: ${join(out, 'grid.png')})`);
    return 0;
  }
  if (typeof values.text === 'string') {
    refuseUnread(['out', 'size'], 'text');
    if (!task || task.type !== 'seqcls') throw new GiftjsError(`${join(adapterDir, ADAPTER_CONFIG)}: --text needs a sequence classifier's adapter (gift train on an encoder folder)`);
    const info = taskInfoFromAdapterConfig(adapterConfig, join(adapterDir, ADAPTER_CONFIG));
    // A pair head runs the encoder once per text of a pair: one text would add a run over an empty
    // second text, whose layer outputs the maps could be taken from.
    if (info.pair_head === true) throw new GiftjsError(`${join(adapterDir, ADAPTER_CONFIG)}: this classifier reads sentence pairs (task.pair_head), each text encoded alone; gift explain --text maps one text through a classifier of single texts, and not yet through a pair head`);
    const tokenizer = Tokenizer.fromFolder(modelDir);
    // Read at the length the classifier was trained with (it had been 128 whatever that was).
    const { ids } = tokenizer.encodeForClassification([values.text], info.max_length);
    const head = headOptionsOfTask(info, 'sequence-classifier');
    assertClassifierEvalFits(modelDir, adapterDir, { kind: 'sequence-classifier', batch: 1, length: ids.length, numLabels: head.numLabels, regression: info.problem_type === 'regression' }, values['memory-limit'], 'gift explain');
    const model = loadSequenceClassifier(modelDir, head.numLabels);
    loadAdapter(adapterDir, model);
    const layer = chooseLayer(model, values);
    const maps = clusterMaps(layer, () => void model.logits(collateSeqCls([{ ids, label: 0 }])));
    const tokens = ids.map((id) => tokenizer.idToToken(id) ?? String(id));
    const k = intOption(values.top, 'top', 5);
    console.log(`layer ${layer.path} (GIFT group '${layer.adapter.pair.group}', ${maps.rank} prototypes): the tokens responding most, after (before)`);
    const after = topTokens(maps.after, tokens, maps.rank, k);
    const before = topTokens(maps.before, tokens, maps.rank, k);
    for (const p of after) {
      console.log(`  prototype ${p.prototype}: ${p.tokens.map((t) => t.token).join(' ')}   (${before[p.prototype]!.tokens.map((t) => t.token).join(' ')})`);
    }
    return 0;
  }
  throw new GiftjsError(`give --image <file> --out <dir> (ViT) or --text "..." (text classifiers)\n\n${EXPLAIN_HELP}`);
}
