// gift convert llama2c: a llama2.c checkpoint and tokenizer to a Hugging Face folder.
import { convertLlama2c } from '../io/llama2c.js';
import { parse, requireString } from './args.js';

export const CONVERT_HELP = `gift convert llama2c <model.bin> --tokenizer <tok.bin> --out <dir>

Writes a Hugging Face folder (config.json, model.safetensors, tokenizer.json that tokenizes exactly
as the SentencePiece tokenizer does, tokenizer_config.json) from a llama2.c v0 checkpoint.
`;

export async function convertCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { tokenizer: { type: 'string' }, out: { type: 'string' } }, true);
  if (values.help || positionals[0] !== 'llama2c' || positionals.length !== 2) {
    console.log(CONVERT_HELP);
    return values.help ? 0 : 2;
  }
  const out = requireString(values, 'out', CONVERT_HELP);
  const { config } = convertLlama2c(positionals[1]!, (values.tokenizer as string | undefined) ?? null, out);
  console.log(`converted ${positionals[1]} (${config.num_hidden_layers} layers, hidden ${config.hidden_size}, vocabulary ${config.vocab_size}) -> ${out}`);
  return 0;
}
