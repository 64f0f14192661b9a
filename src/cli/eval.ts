// gift eval: language-modelling loss and perplexity of a model (with an optional adapter) on a
// JSONL file of {"text": ...} lines.
import { readJsonl } from '../data/jsonl.js';
import { evaluatePerplexity } from '../eval/perplexity.js';
import { intOption, parse, requireString } from './args.js';
import { loadModelWithAdapter, loadTokenizer } from './model_loading.js';

export const EVAL_HELP = `gift eval --model <dir> [--adapter <dir>] --data <file.jsonl> [--max-length N] [--json]

Language-modelling loss and perplexity over a JSONL file of {"text": ...} lines: each line is
tokenized as Hugging Face's tokenizer(text) would, and the loss is the mean next-token
cross-entropy over all predicted tokens of all lines (token-weighted). Lines longer than
--max-length tokens (default 2048) are cut, and the count of cut lines is reported.
With --json the last line is {"loss": ..., "perplexity": ..., "tokens": ...}.
`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { model: { type: 'string' }, adapter: { type: 'string' }, data: { type: 'string' }, 'max-length': { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    console.log(EVAL_HELP);
    return 0;
  }
  const modelDir = requireString(values, 'model', EVAL_HELP);
  const dataPath = requireString(values, 'data', EVAL_HELP);
  const maxLength = intOption(values['max-length'], 'max-length', 2048, 2);
  const texts = readJsonl(dataPath).map(({ line, value }) => {
    if (typeof value.text !== 'string') throw new Error(`${dataPath}:${line}: expected a "text" string field`);
    return value.text;
  });
  const { model } = loadModelWithAdapter(modelDir, values.adapter as string | undefined);
  const tokenizer = loadTokenizer(modelDir);
  const r = evaluatePerplexity(model, tokenizer, texts, maxLength);
  console.log(`texts ${r.texts}, predicted tokens ${r.tokens}${r.truncated ? `, ${r.truncated} texts cut to ${maxLength} tokens` : ''}`);
  console.log(`loss ${r.loss.toFixed(6)}  perplexity ${r.perplexity.toFixed(4)}`);
  if (values.json) console.log(JSON.stringify({ loss: r.loss, perplexity: r.perplexity, tokens: r.tokens }));
  return 0;
}
