// Training examples from data files: each record becomes token ids and labels (the ids where the
// loss counts, -100 elsewhere). Formats, detected from the first record or named:
//   text          {"text"}                           loss on every token (mlx-lm); textField names another field
//   completion    {"prompt", "completion"}           loss on the completion only (mlx-lm); prompt and
//                 completion may be lists of messages (TRL's conversational prompt-completion)
//   chat          {"messages": [{role, content}]}    chat template; loss on assistant turns only
//                 ("conversations" and {from, value}, ShareGPT's names, read as TRL renames them)
//                 (with TRL's per-record "tools" and "chat_template_kwargs", given to the template)
//   llm-adapters  {"instruction","input","output","answer"}  the paper's templates, loss on the response
// lossOn 'all' puts the loss on every token instead (prompts, system and user turns too): TRL's
// completion_only_loss=False and its default for "messages", mlx-lm without --mask-prompt.
import { readFileSync } from 'node:fs';
import type { Tokenizer, ChatMessage, ChatTemplateOptions } from '../io/tokenizer.js';
import { readJsonl } from './jsonl.js';
import { alpacaPrompt, commonsensePrompt } from './prompts.js';
import { GiftjsError } from '../errors.js';

export type DataFormat = 'text' | 'completion' | 'chat' | 'llm-adapters';
export const DATA_FORMATS: DataFormat[] = ['text', 'completion', 'chat', 'llm-adapters'];

/** Which of the paper's templates an LLM-Adapters record uses. */
export type PromptTask = 'commonsense' | 'math' | 'instruct';
export const PROMPT_TASKS: readonly PromptTask[] = ['commonsense', 'math', 'instruct'];

/**
 * Which tokens carry the loss: 'response' (the default) those the format names above (the completion,
 * the assistant turns, the LLM-Adapters output; a text's every token), 'all' every token of every format.
 */
export type LossOn = 'response' | 'all';
export const LOSS_ON: readonly LossOn[] = ['response', 'all'];

export interface DataRecord {
  /** "file:line" (JSONL) or "file[index]" (a JSON list), for error messages. */
  where: string;
  value: Record<string, unknown>;
}

export interface Example {
  ids: Int32Array;
  labels: Int32Array;
}

export interface ExampleSet {
  examples: Example[];
  /** Records cut to maxLength tokens. */
  truncated: number;
  /** Records left with no token to learn from after truncation. */
  dropped: number;
}

/** Reads a .jsonl file or a .json list of objects. */
export function readRecords(path: string): DataRecord[] {
  if (path.endsWith('.jsonl')) return readJsonl(path).map((r) => ({ where: `${path}:${r.line}`, value: r.value }));
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new GiftjsError(`${path}: cannot read as JSON (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!Array.isArray(parsed)) throw new GiftjsError(`${path}: expected a JSON list of records (or use .jsonl)`);
  return parsed.map((value, i) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new GiftjsError(`${path}[${i}]: expected a JSON object`);
    return { where: `${path}[${i}]`, value: value as Record<string, unknown> };
  });
}

/** The format of a data file, from its first record; `textField`: the field a text record holds its text in (default "text"). */
export function detectFormat(record: DataRecord, textField = 'text'): DataFormat {
  const v = record.value;
  if (Array.isArray(v.messages) || Array.isArray(v.conversations)) return 'chat';
  if ((typeof v.prompt === 'string' && typeof v.completion === 'string') || (Array.isArray(v.prompt) && Array.isArray(v.completion))) return 'completion';
  if (typeof v.instruction === 'string' && (typeof v.output === 'string' || typeof v.answer === 'string')) return 'llm-adapters';
  if (typeof v[textField] === 'string') return 'text';
  throw new GiftjsError(`${record.where}: cannot tell the data format from fields ${JSON.stringify(Object.keys(v))} (expected ${textField === 'text' ? 'text' : `${textField} (the text field named)`}, prompt+completion, messages, or instruction+output)`);
}

function str(r: DataRecord, key: string): string {
  const v = r.value[key];
  if (typeof v !== 'string') throw new GiftjsError(`${r.where}: expected a string field "${key}"`);
  return v;
}

export interface ExampleOptions {
  format: DataFormat;
  maxLength: number;
  task?: PromptTask;
  /** Omitted: 'response'. */
  lossOn?: LossOn;
  /** The field a text record's text is in (TRL's dataset_text_field); omitted: "text". */
  textField?: string;
}

/** Ids and the number of leading ids that carry no loss, before truncation. */
function tokenizeRecord(r: DataRecord, tok: Tokenizer, o: ExampleOptions, eos: number | null): { ids: number[]; mask: boolean[] } {
  // EOS closes the text unless the text already ends with it (TRL appends eos_token to a text or a
  // completion only then; a record exported with its EOS had learned two).
  const eosText = tok.specialTokens.eos_token;
  const withEos = (text: string) => {
    const ids = tok.encode(text);
    return eos !== null && !(eosText !== undefined && eosText !== '' && text.endsWith(eosText) && ids.at(-1) === eos) ? [...ids, eos] : ids;
  };
  const promptThen = (prompt: string, target: string) => {
    // Tokenize prompt + target together (as mlx-lm and LLM-Adapters do) and mask the prompt. The
    // prompt's tokens are those the combined ids share with the prompt alone: where the prompt's
    // last piece merges with the target's first (a trailing space, as in "the correct answer is "),
    // the merged token counts as target, so the answer itself is always learned.
    const ids = withEos(prompt + target);
    const promptLen = commonPrefixLength(tok.encode(prompt), ids);
    return { ids, mask: ids.map((_, i) => i >= promptLen) };
  };
  switch (o.format) {
    case 'text': {
      const ids = withEos(str(r, o.textField ?? 'text'));
      return { ids, mask: ids.map(() => true) };
    }
    case 'completion':
      if (Array.isArray(r.value.prompt) || Array.isArray(r.value.completion)) return conversationalCompletion(r, tok, o.lossOn ?? 'response');
      return promptThen(str(r, 'prompt'), str(r, 'completion'));
    case 'llm-adapters': {
      const instruction = str(r, 'instruction');
      const task = o.task ?? 'instruct';
      if (task === 'commonsense') return promptThen(commonsensePrompt(instruction), str(r, 'answer'));
      const input = typeof r.value.input === 'string' ? r.value.input : '';
      return promptThen(alpacaPrompt(instruction, task === 'math' ? '' : input), str(r, 'output'));
    }
    case 'chat': {
      const messages = checkedMessages(r, Array.isArray(r.value.messages) || !Array.isArray(r.value.conversations) ? 'messages' : 'conversations');
      const encode = chatEncoder(r, tok);
      const ids = encode(messages, false);
      if (o.lossOn === 'all') return { ids, mask: ids.map(() => true) }; // no turn to place
      const mask = ids.map(() => false);
      const endOfTurn = new Set(['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '</s>'].map((t) => tok.tokenId(t)).filter((id): id is number => id !== undefined));
      if (tok.eosTokenId !== null) endOfTurn.add(tok.eosTokenId);
      // Each assistant turn starts after the conversation before it with the generation prompt, which must
      // render as the whole conversation begins (else the turn cannot be placed: refused, not guessed).
      const turns = messages.flatMap((m, i) => (m.role === 'assistant' ? [i] : []));
      const starts = turns.map((i) => {
        const opening = encode(messages.slice(0, i), true);
        if (commonPrefixLength(opening, ids) !== opening.length) {
          throw new GiftjsError(`${r.where}: the chat template renders the conversation before message ${i} (an assistant turn) otherwise than the whole conversation begins, so giftjs cannot tell where that turn starts`);
        }
        return opening.length;
      });
      turns.forEach((i, k) => {
        const start = starts[k]!;
        const limit = starts[k + 1] ?? ids.length;
        // The turn ends after its end token where the template has one (Llama 3, ChatML, Llama 2, Gemma,
        // Phi-3), found in the whole conversation's tokens: a turn rendered apart need not match them
        // (Qwen 3's template gives the last assistant turn an empty <think> block, and no other).
        let end = -1;
        for (let t = start; t < limit && end < 0; t++) if (endOfTurn.has(ids[t]!)) end = t + 1;
        if (end < 0) {
          // No end token: the turn ends where the conversation with one more (user) message departs
          // from it (some templates append the next assistant header whatever add_generation_prompt
          // says), as far as that rendering agrees with the whole conversation.
          const through = encode(messages.slice(0, i + 1), false);
          const next = encode([...messages.slice(0, i + 1), { role: 'user', content: '.' }], false);
          end = Math.min(commonPrefixLength(through, next), commonPrefixLength(through, ids), limit);
        }
        for (let t = start; t < end; t++) mask[t] = true;
      });
      return { ids, mask };
    }
  }
}

/** How many leading ids two lists share. */
function commonPrefixLength(a: number[], b: number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** The ids of messages rendered by the chat template with what the record gives it (its tools and chat_template_kwargs). */
function chatEncoder(r: DataRecord, tok: Tokenizer): (messages: ChatMessage[], addGenerationPrompt: boolean) => number[] {
  const options = recordTemplateOptions(r);
  return (messages, addGenerationPrompt) => tok.encode(tok.applyChatTemplate(messages, { ...options, addGenerationPrompt }), { addSpecialTokens: false });
}

/**
 * A record's list of messages under `field`, each with a string role and content (null only beside
 * tool_calls). ShareGPT's names are read as TRL's maybe_convert_to_chatml renames them ("from" is the
 * role, "value" the content); its roles "human" and "gpt", which TRL leaves as they are (the template
 * then writes them out, or refuses them), are refused by name.
 */
function checkedMessages(r: DataRecord, field: string): ChatMessage[] {
  const list = r.value[field];
  if (!Array.isArray(list)) throw new GiftjsError(`${r.where}: "${field}" must be a list of messages, got ${JSON.stringify(list)?.slice(0, 200)}`);
  const messages = list.map((m: unknown): Record<string, unknown> | null => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return null;
    if (!('from' in m || 'value' in m)) return m as Record<string, unknown>;
    const { from, value, ...rest } = m as Record<string, unknown>;
    return { ...rest, ...('from' in m ? { role: from } : {}), ...('value' in m ? { content: value } : {}) };
  });
  const bad = messages.findIndex((m) => !(m !== null && typeof m.role === 'string'
    && (typeof m.content === 'string' || (m.content == null && Array.isArray(m.tool_calls)))));
  if (bad >= 0) {
    throw new GiftjsError(`${r.where}: ${field}[${bad}] needs a string "role" and a string "content" (null only beside "tool_calls"), got ${JSON.stringify(list[bad])?.slice(0, 200)}`);
  }
  const shareGpt = messages.findIndex((m) => m!.role === 'human' || m!.role === 'gpt');
  if (shareGpt >= 0) {
    throw new GiftjsError(`${r.where}: ${field}[${shareGpt}] has the role '${String(messages[shareGpt]!.role)}' (ShareGPT's name); chat templates and giftjs's loss on assistant turns know 'user' and 'assistant': rename human to user and gpt to assistant`);
  }
  return messages as unknown as ChatMessage[];
}

/**
 * TRL's conversational prompt-completion record ({"prompt": [messages], "completion": [messages]}),
 * tokenized as its SFTTrainer does: the prompt rendered with the generation prompt, the whole
 * rendered without, and the loss on every token after the prompt's (the completion's turns, their
 * end tokens and what the template writes after them); no EOS appended. A prompt that does not
 * render as the whole begins is refused (TRL warns and masks by its length anyway). lossOn 'all': every
 * token, with no prompt to place.
 */
function conversationalCompletion(r: DataRecord, tok: Tokenizer, lossOn: LossOn): { ids: number[]; mask: boolean[] } {
  const prompt = checkedMessages(r, 'prompt');
  const completion = checkedMessages(r, 'completion');
  const encode = chatEncoder(r, tok);
  const ids = encode([...prompt, ...completion], false);
  if (lossOn === 'all') return { ids, mask: ids.map(() => true) }; // no completion to place
  const promptIds = encode(prompt, true);
  if (commonPrefixLength(promptIds, ids) !== promptIds.length) {
    throw new GiftjsError(`${r.where}: the chat template renders the prompt's messages otherwise than the prompt and completion together begin, so giftjs cannot tell where the completion starts`);
  }
  return { ids, mask: ids.map((_, i) => i >= promptIds.length) };
}

/**
 * What a chat record gives its template besides the messages, as TRL's SFTTrainer reads it: "tools"
 * (a list of the functions' JSON schemas, or that list as a JSON string) and "chat_template_kwargs"
 * (names for the template, such as Qwen 3's enable_thinking). Either may be absent or null.
 */
function recordTemplateOptions(r: DataRecord): ChatTemplateOptions {
  let tools = r.value.tools;
  if (typeof tools === 'string') {
    try {
      tools = JSON.parse(tools);
    } catch {
      throw new GiftjsError(`${r.where}: "tools" is a string that is not JSON; it must be a list of the functions' JSON schemas, or that list as a JSON string`);
    }
  }
  if (tools != null && !(Array.isArray(tools) && tools.every((t) => t !== null && typeof t === 'object' && !Array.isArray(t)))) {
    throw new GiftjsError(`${r.where}: "tools" must be a list of the functions' JSON schemas (objects), got ${JSON.stringify(tools).slice(0, 200)}`);
  }
  const kwargs = r.value.chat_template_kwargs;
  if (kwargs != null && (typeof kwargs !== 'object' || Array.isArray(kwargs))) {
    throw new GiftjsError(`${r.where}: "chat_template_kwargs" must be an object of names for the chat template (such as {"enable_thinking": false}), got ${JSON.stringify(kwargs).slice(0, 200)}`);
  }
  return { tools: (tools ?? null) as unknown[] | null, templateArguments: (kwargs ?? {}) as Record<string, unknown> };
}

export function buildExamples(records: DataRecord[], tok: Tokenizer, o: ExampleOptions): ExampleSet {
  // (From JavaScript: a NaN maxLength had cut nothing, 2.5 cut at 2, an unknown format had failed inside.)
  if (!DATA_FORMATS.includes(o.format)) throw new GiftjsError(`buildExamples: format must be one of ${DATA_FORMATS.join(', ')}, got '${String(o.format)}'`);
  if (o.task != null && !PROMPT_TASKS.includes(o.task)) throw new GiftjsError(`buildExamples: task must be one of ${PROMPT_TASKS.join(', ')}, got '${String(o.task)}'`);
  if (!(Number.isInteger(o.maxLength) && o.maxLength >= 1)) throw new GiftjsError(`buildExamples: maxLength must be a whole number of tokens >= 1, got ${o.maxLength}`);
  if (o.textField != null && !(typeof o.textField === 'string' && o.textField !== '')) throw new GiftjsError(`buildExamples: textField must name a field, got ${JSON.stringify(o.textField)}`);
  if (o.lossOn != null && !LOSS_ON.includes(o.lossOn)) throw new GiftjsError(`buildExamples: lossOn must be one of ${LOSS_ON.join(', ')}, got '${String(o.lossOn)}'`);
  const eos = tok.eosTokenId;
  let truncated = 0;
  let dropped = 0;
  const examples: Example[] = [];
  for (const r of records) {
    let { ids, mask } = tokenizeRecord(r, tok, o, o.format === 'chat' ? null : eos);
    if (o.lossOn === 'all') mask = mask.map(() => true); // lifts the prompt's mask (chat records came whole already)
    if (ids.length > o.maxLength) {
      ids = ids.slice(0, o.maxLength);
      mask = mask.slice(0, o.maxLength);
      truncated++;
    }
    // Position 0 is never predicted, so a record needs a masked-in token after it.
    if (!mask.some((m, i) => m && i > 0)) {
      dropped++;
      continue;
    }
    examples.push({ ids: Int32Array.from(ids), labels: Int32Array.from(ids, (id, i) => (mask[i] ? id : -100)) });
  }
  return { examples, truncated, dropped };
}
