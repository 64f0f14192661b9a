// gift serve answers the openai npm client (7.59.0, as an application would call it): models, completions and chat
// completions, whole and streamed, the text being the model's greedy continuation (what `generate`
// gives for the same ids, the chat prompt rendered by the tokenizer's template); requests queued one
// at a time; stop sequences end an answer before them; malformed and unsupported requests answered
// 400 / 404 / 413 with a message naming the field.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { generate } from '../../src/generate/generate.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { createOpenAIServer } from '../../src/serve/openai_server.js';
import type { Server } from 'node:http';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
// The GQA Llama fixture, with a chat template in its tokenizer_config.json.
const MODEL = mkdtempSync(join(tmpdir(), 'giftjs-serve-'));
cpSync(join(ROOT, 'test/fixtures/llama/llama-gqa'), MODEL, { recursive: true });
const tokConfig = JSON.parse(readFileSync(join(MODEL, 'tokenizer_config.json'), 'utf8'));
tokConfig.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
writeFileSync(join(MODEL, 'tokenizer_config.json'), JSON.stringify(tokConfig));

const model = loadCausalLM(MODEL);
const tokenizer = Tokenizer.fromFolder(MODEL);
let server: Server;
let base: string;
let client: OpenAI;

before(async () => {
  server = createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  client = new OpenAI({ baseURL: base, apiKey: 'none', maxRetries: 0 });
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('createOpenAIServer refuses settings that are not ones, by name (from JavaScript, a NaN default length had failed each request)', () => {
  const good = { model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096 };
  assert.throws(() => createOpenAIServer({ ...good, defaultMaxTokens: NaN }), /createOpenAIServer: defaultMaxTokens must be a whole number >= 1, got NaN/);
  assert.throws(() => createOpenAIServer({ ...good, maxBodyBytes: 0.5 }), /createOpenAIServer: maxBodyBytes must be a whole number >= 1, got 0.5/);
  assert.throws(() => createOpenAIServer({ ...good, defaultMaxTokens: 64 }), /createOpenAIServer: defaultMaxTokens 64 is past maxTokensLimit 32/);
  assert.throws(() => createOpenAIServer({ ...good, defaultTemperature: NaN }), /createOpenAIServer: defaultTemperature must be between 0 and 2 \(as a request's temperature\), got NaN/);
});

test('a server\'s context (contextTokens, gift serve --ctx-size) bounds prompt and answer together, as llama.cpp\'s server does', async () => {
  const good = { model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096 };
  assert.throws(() => createOpenAIServer({ ...good, contextTokens: 0 }), /createOpenAIServer: contextTokens must be a whole number >= 1, got 0/);
  const past = model.config.maxPositionEmbeddings + 1;
  assert.throws(() => createOpenAIServer({ ...good, contextTokens: past }), new RegExp(`createOpenAIServer: contextTokens ${past} is past the model's context \\(${past - 1} tokens\\)`));
  // Before, the server let a request fill the model's whole context whatever memory was estimated for.
  const small = createOpenAIServer({ ...good, contextTokens: 8 });
  await new Promise<void>((resolve) => small.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(small.address() as AddressInfo).port}/v1/completions`;
    const post = async (body: unknown) => {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { error?: { message: string }; choices?: { text: string; finish_reason: string }[]; usage?: { completion_tokens: number } } };
    };
    const prompt = 'the dog sat on the mat and the cat';
    const promptTokens = tokenizer.encode(prompt).length;
    assert.ok(promptTokens > 8, `${promptTokens} tokens`);
    const long = await post({ prompt });
    assert.equal(long.status, 400);
    assert.match(long.body.error!.message, new RegExp(`the prompt is ${promptTokens} tokens, this server's context \\(--ctx-size\\) is 8`));
    const short = 'the dog';
    const room = 8 - tokenizer.encode(short).length;
    const answer = await post({ prompt: short, max_tokens: 20, temperature: 0 });
    assert.equal(answer.status, 200);
    assert.ok(answer.body.usage!.completion_tokens <= room, `${answer.body.usage!.completion_tokens} tokens in a room of ${room}`);
    assert.equal(answer.body.choices![0]!.text, greedy(tokenizer.encode(short), room));
  } finally {
    await new Promise<void>((resolve) => small.close(() => resolve()));
  }
});

/** The greedy continuation giftjs's generate gives for these ids, stopping at EOS, decoded. */
function greedy(ids: number[], maxTokens: number): string {
  const stops = [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])];
  const out = generate(model, ids, { maxNewTokens: maxTokens, stopTokens: stops });
  return tokenizer.decode(out.filter((t) => !stops.includes(t)));
}

test('the openai client lists the model and gets completions, whole and streamed', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
  // OpenAI's retrieve: the served model by its id; another is 404 (the client throws NotFoundError).
  assert.deepEqual(await client.models.retrieve('tiny'), models.data[0]);
  await assert.rejects(client.models.retrieve('other'), (err: { status?: number; message?: string }) => err.status === 404 && /the model 'other' does not exist \(this server serves 'tiny'\)/.test(String(err.message)));
  const prompt = 'the dog sat on';
  const want = greedy(tokenizer.encode(prompt), 12);
  const whole = await client.completions.create({ model: 'tiny', prompt, max_tokens: 12 });
  assert.equal(whole.choices[0]!.text, want);
  assert.equal(whole.usage!.prompt_tokens, tokenizer.encode(prompt).length);
  assert.ok(['stop', 'length'].includes(whole.choices[0]!.finish_reason!));
  let streamed = '';
  let finish: string | null = null;
  for await (const c of await client.completions.create({ model: 'tiny', prompt, max_tokens: 12, stream: true })) {
    streamed += c.choices[0]!.text;
    finish = c.choices[0]!.finish_reason ?? finish;
  }
  assert.equal(streamed, want, 'streamed pieces put together');
  assert.equal(finish, whole.choices[0]!.finish_reason);
});

test('chat completions render the tokenizer\'s chat template; streamed deltas add up to the whole answer', async () => {
  const messages = [{ role: 'system' as const, content: 'be brief' }, { role: 'user' as const, content: 'hello there' }];
  const ids = tokenizer.encode(tokenizer.applyChatTemplate(messages), { addSpecialTokens: false });
  const want = greedy(ids, 10);
  const whole = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 10 });
  assert.equal(whole.choices[0]!.message.role, 'assistant');
  assert.equal(whole.choices[0]!.message.content, want);
  let streamed = '';
  let role: string | undefined;
  for await (const c of await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 10, stream: true })) {
    streamed += c.choices[0]?.delta.content ?? '';
    role ??= c.choices[0]?.delta.role;
    // As OpenAI's chunks: the choice names its logprobs, null where the request asked for none.
    if (c.choices[0]) assert.equal(c.choices[0].logprobs, null, JSON.stringify(c));
  }
  assert.equal(role, 'assistant');
  assert.equal(streamed, want);
});

test('a message\'s list of text parts is its texts joined with line breaks, as vLLM and llama.cpp\'s server join them', async () => {
  const parts = [{ type: 'text' as const, text: 'hello' }, { type: 'text' as const, text: 'there' }];
  const want = greedy(tokenizer.encode(tokenizer.applyChatTemplate([{ role: 'user', content: 'hello\nthere' }]), { addSpecialTokens: false }), 10);
  const got = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: parts }], max_tokens: 10 });
  assert.equal(got.choices[0]!.message.content, want);
  const joined = greedy(tokenizer.encode(tokenizer.applyChatTemplate([{ role: 'user', content: 'hellothere' }]), { addSpecialTokens: false }), 10);
  assert.notEqual(joined, want, 'the two prompts give different answers, so the test tells the joins apart');
});

test('stop sequences end the answer before the first one (finish_reason "stop"), whole and streamed, as OpenAI\'s API does', async () => {
  const prompt = 'the dog sat on';
  const ids = tokenizer.encode(prompt);
  const want = greedy(ids, 24);
  // A stop sequence from the middle of the greedy answer (across a space, where text is released), and one it never holds.
  const space = want.indexOf(' ', 2);
  assert.ok(space > 0 && space + 3 < want.length, JSON.stringify(want));
  const stop = want.slice(space - 1, space + 3);
  const cut = want.slice(0, want.indexOf(stop));
  for (const stops of [stop, [stop, 'no such text'], ['no such text']]) {
    const expected = stops === stop || Array.isArray(stops) && stops.includes(stop) ? cut : want;
    const whole = await client.completions.create({ model: 'tiny', prompt, max_tokens: 24, stop: stops });
    assert.equal(whole.choices[0]!.text, expected, JSON.stringify(stops));
    if (expected === cut) {
      assert.equal(whole.choices[0]!.finish_reason, 'stop');
      // It stopped at the token that completed the sequence: the decoded answer of that many tokens first holds it.
      const stops0 = [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])];
      const tokens = generate(model, ids, { maxNewTokens: 24, stopTokens: stops0 });
      const n = whole.usage!.completion_tokens;
      assert.ok(tokenizer.decode(tokens.slice(0, n)).includes(stop) && !tokenizer.decode(tokens.slice(0, n - 1)).includes(stop), `${n} tokens`);
    }
    let streamed = '';
    let finish: string | null = null;
    for await (const c of await client.completions.create({ model: 'tiny', prompt, max_tokens: 24, stop: stops, stream: true })) {
      streamed += c.choices[0]!.text;
      finish = c.choices[0]!.finish_reason ?? finish;
    }
    assert.equal(streamed, expected, `streamed, ${JSON.stringify(stops)}`);
    assert.equal(finish, whole.choices[0]!.finish_reason);
  }
  const messages = [{ role: 'user' as const, content: 'hello there' }];
  const chatWant = greedy(tokenizer.encode(tokenizer.applyChatTemplate(messages), { addSpecialTokens: false }), 16);
  const chatStop = chatWant.slice(3, 6);
  assert.equal(chatStop.length, 3, JSON.stringify(chatWant));
  const chat = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 16, stop: [chatStop] });
  assert.equal(chat.choices[0]!.message.content, chatWant.slice(0, chatWant.indexOf(chatStop)));
  assert.equal(chat.choices[0]!.finish_reason, 'stop');
});

test('presence_penalty, frequency_penalty, repetition_penalty, top_k and min_p sample as generate() does with them; other servers\' settings are refused unless they change nothing', async () => {
  const prompt = 'the dog sat on';
  const ids = tokenizer.encode(prompt);
  const eos = [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])];
  const expected = (options: Parameters<typeof generate>[2]) => tokenizer.decode(generate(model, ids, { maxNewTokens: 16, stopTokens: eos, ...options }).filter((t) => !eos.includes(t)));
  const penalized = await client.completions.create({ model: 'tiny', prompt, max_tokens: 16, presence_penalty: 0.5, frequency_penalty: 1.5 });
  assert.equal(penalized.choices[0]!.text, expected({ presencePenalty: 0.5, frequencyPenalty: 1.5 }));
  assert.notEqual(penalized.choices[0]!.text, greedy(ids, 16), 'the penalties change the answer here');
  const sampled = await fetch(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_tokens: 16, temperature: 1, top_k: 3, seed: 7 }) });
  assert.equal(((await sampled.json()) as { choices: { text: string }[] }).choices[0]!.text, expected({ temperature: 1, topK: 3, seed: 7 }));
  const minP = await fetch(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_tokens: 16, temperature: 1.5, min_p: 0.3, seed: 7 }) });
  assert.equal(((await minP.json()) as { choices: { text: string }[] }).choices[0]!.text, expected({ temperature: 1.5, minP: 0.3, seed: 7 }));
  const post = async (body: Record<string, unknown>) => {
    const r = await fetch(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_tokens: 2, ...body }) });
    return { status: r.status, body: (await r.json()) as { error?: { message: string; param: string } } };
  };
  const repeated = await fetch(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_tokens: 16, repetition_penalty: 1.6 }) });
  const repeatedText = ((await repeated.json()) as { choices: { text: string }[] }).choices[0]!.text;
  assert.equal(repeatedText, expected({ repetitionPenalty: 1.6 }));
  assert.notEqual(repeatedText, greedy(ids, 16), 'the repetition penalty changes the answer here');
  let r = await post({ repeat_penalty: 1.3 });
  assert.equal(r.status, 400);
  assert.match(r.body.error!.message, /'repeat_penalty' 1.3 is not supported \(only 1, which changes nothing\)/);
  assert.equal(r.body.error!.param, 'repeat_penalty');
  r = await post({ repetition_penalty: 0 });
  assert.match(r.body.error!.message, /'repetition_penalty' must be a number above 0 \(1: off\), got 0/);
  r = await post({ json_schema: { type: 'object' } });
  assert.match(r.body.error!.message, /'json_schema' \{"type":"object"\} is not supported$/);
  r = await post({ frequency_penalty: 3 });
  assert.match(r.body.error!.message, /'frequency_penalty' must be from -2 to 2, got 3/);
  r = await post({ top_k: 1.5 });
  assert.match(r.body.error!.message, /'top_k' must be a whole number >= 0 \(0: off\), got 1.5/);
  assert.equal((await post({ repeat_penalty: 1, typical_p: 1 })).status, 200);
  r = await post({ min_p: 1.5 });
  assert.match(r.body.error!.message, /'min_p' must be in \[0, 1\] \(0: off\), got 1.5/);
});

test('stream_options.include_usage ends a streamed answer with OpenAI\'s usage chunk', async () => {
  const prompt = 'the dog sat on';
  const whole = await client.completions.create({ model: 'tiny', prompt, max_tokens: 6 });
  const chunks = [];
  for await (const c of await client.completions.create({ model: 'tiny', prompt, max_tokens: 6, stream: true, stream_options: { include_usage: true } })) chunks.push(c);
  const last = chunks.pop()!;
  assert.deepEqual(last.choices, []);
  assert.deepEqual(last.usage, whole.usage);
  assert.equal(chunks.map((c) => c.choices[0]!.text).join(''), whole.choices[0]!.text);
  assert.ok(chunks.every((c) => !c.usage));
  const messages = [{ role: 'user' as const, content: 'hello there' }];
  const chat = [];
  for await (const c of await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 4, stream: true, stream_options: { include_usage: true } })) chat.push(c);
  assert.equal(chat.at(-1)!.usage!.completion_tokens, (await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 4 })).usage!.completion_tokens);
  const r = await fetch(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, stream_options: { include_usage: true } }) });
  assert.equal(r.status, 400);
  assert.match(((await r.json()) as { error: { message: string } }).error.message, /'stream_options' applies to streamed answers: give stream: true, or leave it out/);
});

test('logprobs: each answer token\'s log-probability and the most likely alternatives, as the model\'s whole-sequence forward gives them', async () => {
  const prompt = 'the dog sat on';
  const ids = tokenizer.encode(prompt);
  /** log-softmax over the vocabulary at each position of the whole sequence (no KV cache), for the tokens after the prompt. */
  const reference = (all: number[]) => {
    const logits = noGrad(() => model.forward(all, 1, all.length).read());
    const v = logits.length / all.length;
    return all.slice(ids.length).map((t, i) => {
      const row = Array.from(logits.subarray((ids.length - 1 + i) * v, (ids.length + i) * v));
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      return { chosen: row[t]! - logZ, best: row.map((x, j) => [j, x - logZ] as const).sort((a, b) => b[1] - a[1]) };
    });
  };
  const whole = await client.completions.create({ model: 'tiny', prompt, max_tokens: 8, logprobs: 3 });
  const lp = whole.choices[0]!.logprobs!;
  const generated = generate(model, ids, { maxNewTokens: 8 }).slice(0, whole.usage!.completion_tokens);
  const ref = reference([...ids, ...generated]);
  assert.equal(lp.tokens!.length, generated.length);
  assert.equal(lp.tokens!.join(''), whole.choices[0]!.text, "the tokens' texts make up the answer");
  assert.deepEqual(lp.text_offset, lp.tokens!.map((_, i) => lp.tokens!.slice(0, i).join('').length));
  lp.token_logprobs!.forEach((x, i) => assert.ok(Math.abs(x - ref[i]!.chosen) < 1e-4, `token ${i}: ${x} against ${ref[i]!.chosen}`));
  lp.top_logprobs!.forEach((top, i) => {
    const values = Object.values(top).sort((a, b) => b - a);
    assert.ok(values.length >= 1 && values.length <= 4, JSON.stringify(top));
    // Greedy: the chosen token is the most likely, so the three best carry the three best values.
    values.slice(0, 3).forEach((x, k) => assert.ok(Math.abs(x - ref[i]!.best[k]![1]) < 1e-4, `token ${i}, alternative ${k}`));
  });
  const messages = [{ role: 'user' as const, content: 'hello there' }];
  const chat = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 5, logprobs: true, top_logprobs: 2 });
  const content = chat.choices[0]!.logprobs!.content!;
  assert.equal(content.length, chat.usage!.completion_tokens);
  assert.equal(content.map((c) => c.token).join(''), chat.choices[0]!.message.content);
  for (const c of content) {
    assert.deepEqual(c.bytes, [...new TextEncoder().encode(c.token)]);
    assert.equal(c.top_logprobs.length, 2);
    assert.ok(Math.abs(c.top_logprobs[0]!.logprob - c.logprob) < 1e-6, 'greedy: the chosen token is the most likely');
  }
  const post = async (path: string, body: Record<string, unknown>) => {
    const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as { error: { message: string; param: string } } };
  };
  let r = await post('/completions', { prompt, logprobs: 21 });
  assert.match(r.body.error.message, /'logprobs' must be a whole number from 0 to 20, got 21/);
  r = await post('/chat/completions', { messages, top_logprobs: 2 });
  assert.match(r.body.error.message, /'top_logprobs' needs logprobs: true/);
  r = await post('/chat/completions', { messages, logprobs: 3 });
  assert.match(r.body.error.message, /'logprobs' must be true or false, got 3/);
});

test('streamed logprobs: each token once, in the chunk that completes its text (never ahead of it), together the whole answer\'s', async () => {
  const prompt = 'the dog sat on';
  const whole = await client.completions.create({ model: 'tiny', prompt, max_tokens: 32, logprobs: 3 });
  const want = whole.choices[0]!.logprobs!;
  const got = { tokens: [] as string[], token_logprobs: [] as number[], top_logprobs: [] as Record<string, number>[], text_offset: [] as number[] };
  let text = '';
  let chunksWithEntries = 0;
  for await (const c of await client.completions.create({ model: 'tiny', prompt, max_tokens: 32, logprobs: 3, stream: true })) {
    text += c.choices[0]!.text;
    const lp = c.choices[0]!.logprobs;
    if (!lp) continue;
    chunksWithEntries += lp.tokens!.length > 0 ? 1 : 0;
    got.tokens.push(...lp.tokens!);
    got.token_logprobs.push(...lp.token_logprobs!);
    got.top_logprobs.push(...(lp.top_logprobs as Record<string, number>[]));
    got.text_offset.push(...lp.text_offset!);
    assert.ok(text.startsWith(got.tokens.join('')), `the tokens sent (${JSON.stringify(got.tokens.join(''))}) run ahead of the text (${JSON.stringify(text)})`);
  }
  assert.equal(text, whole.choices[0]!.text);
  assert.deepEqual(got, { tokens: want.tokens, token_logprobs: want.token_logprobs, top_logprobs: want.top_logprobs, text_offset: want.text_offset });
  assert.ok(chunksWithEntries > 1, `the entries came over ${chunksWithEntries} chunks, as the text did`);

  const messages = [{ role: 'user' as const, content: 'hello there' }];
  const chat = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 32, logprobs: true, top_logprobs: 2 });
  const content: unknown[] = [];
  let said = '';
  for await (const c of await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 32, logprobs: true, top_logprobs: 2, stream: true })) {
    said += c.choices[0]?.delta.content ?? '';
    content.push(...(c.choices[0]?.logprobs?.content ?? []));
    assert.ok(said.startsWith((content as { token: string }[]).map((e) => e.token).join('')));
  }
  assert.equal(said, chat.choices[0]!.message.content);
  assert.deepEqual(content, chat.choices[0]!.logprobs!.content);
});

test('echo: the prompt comes back before the answer, with its tokens\' log-probabilities (the first none), as lm-eval\'s scoring asks; a prompt may be token ids', async () => {
  const prompt = 'the dog sat on the mat';
  const ids = tokenizer.encode(prompt);
  const logits = noGrad(() => model.forward(ids, 1, ids.length).read());
  const v = logits.length / ids.length;
  const expected = ids.slice(1).map((t, i) => {
    const row = Array.from(logits.subarray(i * v, (i + 1) * v));
    const max = Math.max(...row);
    return row[t]! - (max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)));
  });
  const scored = await client.completions.create({ model: 'tiny', prompt, max_tokens: 0, echo: true, logprobs: 1 });
  const lp = scored.choices[0]!.logprobs!;
  assert.equal(scored.choices[0]!.text, tokenizer.decode(ids));
  assert.equal(scored.usage!.completion_tokens, 0);
  assert.equal(lp.tokens!.length, ids.length);
  assert.equal(lp.tokens!.join(''), scored.choices[0]!.text);
  assert.equal(lp.token_logprobs![0], null);
  assert.equal(lp.top_logprobs![0], null);
  lp.token_logprobs!.slice(1).forEach((x, i) => assert.ok(Math.abs(x! - expected[i]!) < 1e-4, `prompt token ${i + 1}: ${x} against ${expected[i]}`));
  // With an answer: the prompt's part as above, then the answer's; token ids as the prompt give the same.
  const both = await client.completions.create({ model: 'tiny', prompt, max_tokens: 4, echo: true, logprobs: 0 });
  const byIds = await client.completions.create({ model: 'tiny', prompt: ids, max_tokens: 4, echo: true, logprobs: 0 });
  assert.deepEqual(byIds.choices[0], both.choices[0]);
  assert.equal(both.choices[0]!.text, tokenizer.decode(ids) + greedy(ids, 4));
  assert.equal(both.choices[0]!.logprobs!.tokens!.length, ids.length + both.usage!.completion_tokens);
  assert.deepEqual(both.choices[0]!.logprobs!.token_logprobs!.slice(0, ids.length), lp.token_logprobs);
  const plain = await client.completions.create({ model: 'tiny', prompt, max_tokens: 4, echo: true });
  assert.equal(plain.choices[0]!.text, both.choices[0]!.text);
  assert.equal(plain.choices[0]!.logprobs, null);
  const post = async (path: string, body: Record<string, unknown>) => {
    const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as { error: { message: string } } };
  };
  assert.match((await post('/chat/completions', { messages: [{ role: 'user', content: 'hi' }], echo: true })).body.error.message, /'echo' belongs to completions, not chat completions/);
  // Streamed, the prompt comes first as its own chunk; put together, the stream is the whole answer, log-probabilities too.
  for (const max_tokens of [0, 6]) {
    const whole = await client.completions.create({ model: 'tiny', prompt, max_tokens, echo: true, logprobs: 2 });
    let text = '';
    let first: string | null = null;
    const got = { tokens: [] as string[], token_logprobs: [] as (number | null)[], top_logprobs: [] as unknown[], text_offset: [] as number[] };
    for await (const c of await client.completions.create({ model: 'tiny', prompt, max_tokens, echo: true, logprobs: 2, stream: true })) {
      first ??= c.choices[0]!.text;
      text += c.choices[0]!.text;
      const lp = c.choices[0]!.logprobs;
      if (!lp) continue;
      got.tokens.push(...lp.tokens!);
      got.token_logprobs.push(...lp.token_logprobs!);
      got.top_logprobs.push(...lp.top_logprobs!);
      got.text_offset.push(...lp.text_offset!);
    }
    assert.equal(first, tokenizer.decode(ids), 'the first chunk is the prompt');
    assert.equal(text, whole.choices[0]!.text);
    const want = whole.choices[0]!.logprobs!;
    assert.deepEqual(got, { tokens: want.tokens, token_logprobs: want.token_logprobs, top_logprobs: want.top_logprobs, text_offset: want.text_offset });
  }
  assert.match((await post('/completions', { prompt, max_tokens: 0 })).body.error.message, /'max_tokens' must be a whole number of at least 1, got 0/);
  assert.match((await post('/completions', { prompt: [1, 2, 1e9] })).body.error.message, /'prompt' as a list must hold token ids, whole numbers from 0 to \d+/);
});

test('requests at once are answered one after the other, each as if alone', async () => {
  const prompts = ['the cat', 'a bird', 'the hat and'];
  const answers = await Promise.all(prompts.map((prompt) => client.completions.create({ model: 'tiny', prompt, max_tokens: 6 })));
  answers.forEach((a, i) => assert.equal(a.choices[0]!.text, greedy(tokenizer.encode(prompts[i]!), 6), prompts[i]));
});

test('malformed and unsupported requests get 400 / 404 / 413 with a message naming the field', async () => {
  const post = async (path: string, body: string) => {
    const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return { status: r.status, error: ((await r.json()) as { error: { message: string; param: string | null } }).error };
  };
  let r = await post('/completions', '{"prompt": "hi", ');
  assert.equal(r.status, 400);
  assert.match(r.error.message, /the request body is not JSON/);
  r = await post('/completions', JSON.stringify({ prompt: 'hi', max_tokens: 1000 }));
  assert.equal(r.status, 400);
  assert.match(r.error.message, /'max_tokens' 1000 is more than this server allows \(32, --max-tokens-limit\)/);
  assert.equal(r.error.param, 'max_tokens');
  r = await post('/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], n: 2 }));
  assert.match(r.error.message, /'n' 2 is not supported/);
  r = await post('/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stop: ['\n', ''] }));
  assert.match(r.error.message, /'stop' must be a string or a list of strings, none empty, got \["\\n",""\]/);
  assert.equal(r.error.param, 'stop');
  r = await post('/completions', JSON.stringify({ prompt: 'hi', stop: 5 }));
  assert.match(r.error.message, /'stop' must be a string or a list of strings, none empty, got 5/);
  r = await post('/chat/completions', JSON.stringify({ messages: [] }));
  assert.match(r.error.message, /'messages' must be a non-empty list/);
  r = await post('/completions', JSON.stringify({ prompt: 'x'.repeat(5000) }));
  assert.equal(r.status, 413);
  r = await post('/embeddings', '{}');
  assert.equal(r.status, 404);
  assert.match(r.error.message, /no route \/v1\/embeddings/);
  await assert.rejects(client.completions.create({ model: 'tiny', prompt: 'hi', temperature: 5 }), /'temperature' must be between 0 and 2, got 5/);
  r = await post('/completions', JSON.stringify({ prompt: 'hi', temperature: 1, seed: 2 ** 32 }));
  assert.equal(r.status, 400);
  assert.match(r.error.message, /'seed' must be a whole number from 0 to 4294967295 \(the sampler's seed is 32 bits\)/);
});

test('gift serve listens on 127.0.0.1, answers, and stops on SIGTERM', async () => {
  const child = spawn(process.execPath, [GIFT, 'serve', '--model', MODEL, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += String(d);
      const m = /serving llama-gqa-?\w* at (http:\/\/127\.0\.0\.1:\d+\/v1)|serving \S+ at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(err);
      if (m) resolve((m[1] ?? m[2])!);
    });
    child.on('exit', () => reject(new Error(`gift serve exited: ${err}`)));
  });
  const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
  assert.equal(models.data.length, 1);
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, err);
});

test('gift serve --int8-activations is refused by name on a model with no quantized weight, before it listens', async () => {
  const child = spawn(process.execPath, [GIFT, 'serve', '--model', MODEL, '--port', '0', '--int8-activations'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += String(d)));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(err, /--int8-activations rounds the activations of products over quantized weights, and no weight of .* is quantized: add --quantize int8\|int4/);
  assert.doesNotMatch(err, /serving/);
});

test('gift serve --quantize int8 --int8-activations answers a completion', async () => {
  const child = spawn(process.execPath, [GIFT, 'serve', '--model', MODEL, '--port', '0', '--quantize', 'int8', '--int8-activations'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += String(d);
      const m = /serving \S+ at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`gift serve exited: ${err}`)));
  });
  const r = await fetch(`${url}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi', max_tokens: 4 }) });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { choices: { text: string }[] };
  assert.equal(typeof body.choices[0]!.text, 'string');
  child.kill('SIGTERM');
  assert.equal(await new Promise<number | null>((resolve) => child.on('exit', resolve)), 0, err);
});

test('a completion\'s prompt may be a batch (strings or token-id lists, as lm-eval sends it): one choice each, the answers the prompts get alone', async () => {
  const post = async (body: Record<string, unknown>) => {
    const r = await fetch(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as { error?: { message: string }; choices: { index: number; text: string; logprobs: { token_logprobs: (number | null)[] } | null }[]; usage: { prompt_tokens: number; completion_tokens: number } } };
  };
  const prompts = ['the dog sat', 'once upon a time'];
  const alone = await Promise.all(prompts.map((prompt) => post({ prompt, max_tokens: 5, echo: true, logprobs: 1 })));
  for (const batch of [prompts, prompts.map((p) => tokenizer.encode(p))]) {
    const both = await post({ prompt: batch, max_tokens: 5, echo: true, logprobs: 1 });
    assert.equal(both.status, 200, JSON.stringify(both.body));
    assert.deepEqual(both.body.choices.map((c) => c.index), [0, 1]);
    both.body.choices.forEach((c, i) => assert.deepEqual(c, { ...alone[i]!.body.choices[0], index: i }));
    assert.equal(both.body.usage.prompt_tokens, alone[0]!.body.usage.prompt_tokens + alone[1]!.body.usage.prompt_tokens);
    assert.equal(both.body.usage.completion_tokens, alone[0]!.body.usage.completion_tokens + alone[1]!.body.usage.completion_tokens);
  }
  assert.match((await post({ prompt: prompts, stream: true })).body.error!.message, /'prompt' holds 2 prompts; a streamed request takes one/);
  assert.match((await post({ prompt: ['a', [1, 2]] })).body.error!.message, /'prompt' must be a string, a list of token ids, or a batch/);
  assert.match((await post({ prompt: [[1, 2], [1, 9999]] })).body.error!.message, /'prompt' as a batch of token-id lists must hold token ids, whole numbers from 0 to 95/);
  assert.match((await post({ prompt: [[1, 2], []] })).body.error!.message, /the prompt 1 is empty/);
  assert.match((await post({ prompt: [] })).body.error!.message, /the prompt is empty/);
});

test('an answer that ends at an end-of-sequence token reports that token (no text, its log-probability), as lm-eval\'s echo scoring counts on', async () => {
  // Every token an end token: each answer ends at its first.
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-serve-eos-'));
  cpSync(MODEL, dir, { recursive: true });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { vocab_size: number };
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, eos_token_id: Array.from({ length: config.vocab_size }, (_, i) => i) }));
  const eosModel = loadCausalLM(dir);
  const small = createOpenAIServer({ model: eosModel, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096 });
  await new Promise<void>((resolve) => small.listen(0, '127.0.0.1', resolve));
  try {
    const ids = tokenizer.encode('the dog sat on the mat');
    const logits = noGrad(() => eosModel.forward(ids, 1, ids.length).read());
    const v = logits.length / ids.length;
    const last = Array.from(logits.subarray((ids.length - 1) * v));
    const chosen = last.indexOf(Math.max(...last));
    const logSumExp = Math.max(...last) + Math.log(last.reduce((a, x) => a + Math.exp(x - Math.max(...last)), 0));
    const r = await fetch(`http://127.0.0.1:${(small.address() as AddressInfo).port}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: [ids], max_tokens: 1, echo: true, logprobs: 1, temperature: 0 }) });
    const body = (await r.json()) as { choices: { text: string; finish_reason: string; logprobs: { tokens: string[]; token_logprobs: (number | null)[]; text_offset: number[] } }[]; usage: { completion_tokens: number } };
    const [choice] = body.choices;
    assert.equal(choice!.finish_reason, 'stop');
    assert.equal(choice!.text, tokenizer.decode(ids), 'the end token adds no text');
    assert.equal(body.usage.completion_tokens, 1);
    assert.equal(choice!.logprobs.token_logprobs.length, ids.length + 1);
    assert.equal(choice!.logprobs.tokens.at(-1), '');
    assert.ok(Math.abs(choice!.logprobs.token_logprobs.at(-1)! - (last[chosen]! - logSumExp)) < 1e-4, `${choice!.logprobs.token_logprobs.at(-1)} against ${last[chosen]! - logSumExp}`);
    // Streamed, the last chunk carries it.
    const streamed = await fetch(`http://127.0.0.1:${(small.address() as AddressInfo).port}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: ids, max_tokens: 1, logprobs: 0, stream: true }) });
    const events = (await streamed.text()).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as { choices: { logprobs: { token_logprobs: number[] } | null; finish_reason: string | null }[] });
    const lastChunk = events.at(-1)!.choices[0]!;
    assert.equal(lastChunk.finish_reason, 'stop');
    assert.deepEqual(lastChunk.logprobs!.token_logprobs, [choice!.logprobs.token_logprobs.at(-1)]);
  } finally {
    await new Promise<void>((resolve) => small.close(() => resolve()));
  }
});

test('chat_template_kwargs (vLLM\'s, such as Qwen 3\'s enable_thinking) reach the chat template; vLLM\'s other prompt changes are refused by name', async () => {
  // It had been ignored without a word: a client switching thinking off got the thinking prompt's answer.
  const folder = mkdtempSync(join(tmpdir(), 'giftjs-serve-kwargs-'));
  cpSync(MODEL, folder, { recursive: true });
  writeFileSync(join(folder, 'chat_template.jinja'), "{% if enable_thinking is defined and enable_thinking is false %}be brief\n{% endif %}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}");
  const withKwargs = Tokenizer.fromFolder(folder);
  const s = createOpenAIServer({ model, tokenizer: withKwargs, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096 });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`;
    const post = async (path: string, body: unknown) => {
      const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { error?: { message: string }; choices?: { message: { content: string } }[] } };
    };
    const messages = [{ role: 'user', content: 'hello there' }];
    const prompt = withKwargs.applyChatTemplate(messages, { templateArguments: { enable_thinking: false } });
    assert.ok(prompt.startsWith('be brief\n'), prompt);
    const want = greedy(withKwargs.encode(prompt, { addSpecialTokens: false }), 8);
    const r = await post('/chat/completions', { messages, chat_template_kwargs: { enable_thinking: false } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.choices![0]!.message.content, want);
    for (const [field, value, message] of [['chat_template_kwargs', ['x'], /'chat_template_kwargs' must be an object/], ['chat_template_kwargs', { messages: [] }, /'chat_template_kwargs' may not name 'messages'/],
      ['chat_template', '{{ x }}', /'chat_template' "\{\{ x \}\}" is not supported/], ['add_generation_prompt', false, /'add_generation_prompt' false is not supported/],
      ['continue_final_message', true, /'continue_final_message' true is not supported/], ['documents', [{ text: 'd' }], /'documents' .* is not supported/]] as const) {
      const bad = await post('/chat/completions', { messages, [field]: value });
      assert.equal(bad.status, 400, field);
      assert.match(bad.body.error!.message, message);
    }
    const completion = await post('/completions', { prompt: 'hi', chat_template_kwargs: { enable_thinking: false } });
    assert.equal(completion.status, 400);
    assert.match(completion.body.error!.message, /'chat_template_kwargs' applies to \/v1\/chat\/completions/);
  } finally {
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

test('gift serve says so where the checkpoint asks for sampling and requests without a temperature decode greedily', async () => {
  const asking = mkdtempSync(join(tmpdir(), 'giftjs-serve-sampling-'));
  cpSync(MODEL, asking, { recursive: true });
  writeFileSync(join(asking, 'generation_config.json'), JSON.stringify({ do_sample: true, temperature: 0.6, top_p: 0.9 }));
  const child = spawn(process.execPath, [GIFT, 'serve', '--model', asking, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += String(d);
      if (/serving \S+ at http/.test(err)) resolve();
    });
    child.on('exit', () => reject(new Error(`gift serve exited: ${err}`)));
  });
  child.kill('SIGTERM');
  assert.equal(await new Promise<number | null>((resolve) => child.on('exit', resolve)), 0, err);
  assert.ok(err.includes(`note: ${join(asking, 'generation_config.json')} asks for sampling (do_sample: temperature 0.6, top_k 50, top_p 0.9), as transformers' generate does by default; gift serve samples as each request asks, and decodes greedily where a request gives no temperature (--temperature 0, the default; as mlx_lm.server does). To sample as it asks: requests with "temperature": 0.6, "top_k": 50, "top_p": 0.9\n`), err);
});

test('a chat\'s next turn reuses the KV cache of the turn before (usage.prompt_tokens_details.cached_tokens) and answers as a fresh generation does', async () => {
  const kept = createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, contextTokens: 128 });
  await new Promise<void>((resolve) => kept.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(kept.address() as AddressInfo).port}/v1`;
  const eos = [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])];
  type Answer = { choices: { message: { content: string } }[]; usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } };
  const ask = async (body: Record<string, unknown>) => (await (await fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ max_tokens: 6, ...body }) })).json()) as Answer;
  const fresh = (messages: { role: string; content: string }[]) => {
    const ids = tokenizer.encode(tokenizer.applyChatTemplate(messages as never), { addSpecialTokens: false });
    return { ids, text: tokenizer.decode(generate(model, ids, { maxNewTokens: 6, stopTokens: eos }).filter((t) => !eos.includes(t))) };
  };
  const turn1 = [{ role: 'user', content: 'the dog sat' }];
  const a = await ask({ messages: turn1 });
  assert.equal(a.choices[0]!.message.content, fresh(turn1).text);
  assert.equal(a.usage.prompt_tokens_details.cached_tokens, 0);
  const turn2 = [...turn1, { role: 'assistant', content: a.choices[0]!.message.content }, { role: 'user', content: 'the cat ran' }];
  const b = await ask({ messages: turn2 });
  const want = fresh(turn2);
  assert.equal(b.choices[0]!.message.content, want.text);
  assert.equal(b.usage.prompt_tokens, want.ids.length);
  // The first turn's rendering is where the two prompts part at the latest.
  const first = fresh(turn1).ids;
  let shared = 0;
  while (shared < first.length && first[shared] === want.ids[shared]) shared++;
  assert.ok(b.usage.prompt_tokens_details.cached_tokens >= shared && shared > 0, `${b.usage.prompt_tokens_details.cached_tokens} cached, ${shared} shared`);
  // cache_prompt: false (llama.cpp's field) computes the prompt afresh; a bad value is refused.
  const c = await ask({ messages: turn2, cache_prompt: false });
  assert.equal(c.choices[0]!.message.content, want.text);
  assert.equal(c.usage.prompt_tokens_details.cached_tokens, 0);
  const bad = await fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: turn2, cache_prompt: 'yes' }) });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /'cache_prompt' must be true or false, got "yes"/);
  // Log-probabilities of an echoed prompt (lm-eval's loglikelihood) computed in the kept cache's storage
  // are those of a server without one, whole and streamed; a batch whose prompts share a beginning reuses it.
  const scored = { prompt: ['the dog sat on the', 'the dog sat on a'], max_tokens: 1, echo: true, logprobs: 3 };
  const post = async (at: string, body: Record<string, unknown>) => (await (await fetch(`${at}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as { choices: unknown[]; usage: { prompt_tokens_details: { cached_tokens: number } } };
  // (Keys reused from the request before were made token by token, a fresh prefill's in one batch: the
  // answer's log-probabilities agree to rounding, the texts and the echoed prompt's exactly.)
  const assertCloseJson = (got: unknown, want: unknown, at: string): void => {
    if (typeof want === 'number') return assert.ok(typeof got === 'number' && Math.abs(got - want) <= 1e-5, `${at}: ${String(got)} against ${want}`);
    if (want === null || typeof want !== 'object') return assert.equal(got, want, at);
    assert.deepEqual(Object.keys(got as object), Object.keys(want), at);
    for (const [k, v] of Object.entries(want)) assertCloseJson((got as Record<string, unknown>)[k], v, `${at}.${k}`);
  };
  const withKept = await post(url, scored);
  assertCloseJson(withKept.choices, (await post(base, scored)).choices, 'echoed');
  const batch = { prompt: ['the dog sat on the', 'the dog sat on a'], max_tokens: 4 };
  const batched = await post(url, batch);
  assertCloseJson(batched.choices, (await post(base, batch)).choices, 'batch');
  assert.ok(batched.usage.prompt_tokens_details.cached_tokens >= tokenizer.encode('the dog sat on').length, JSON.stringify(batched.usage));
  const streamedEcho: string[] = [];
  for await (const c of await new OpenAI({ baseURL: url, apiKey: 'none' }).completions.create({ model: 'tiny', prompt: 'the dog sat on the', max_tokens: 3, echo: true, logprobs: 2, stream: true })) streamedEcho.push(JSON.stringify([c.choices[0]!.text, c.choices[0]!.logprobs]));
  const streamedPlain: string[] = [];
  for await (const c of await client.completions.create({ model: 'tiny', prompt: 'the dog sat on the', max_tokens: 3, echo: true, logprobs: 2, stream: true })) streamedPlain.push(JSON.stringify([c.choices[0]!.text, c.choices[0]!.logprobs]));
  assertCloseJson(streamedEcho.map((c) => JSON.parse(c)), streamedPlain.map((c) => JSON.parse(c)), 'streamed');
  // (The clients' keep-alive connections would hold close() open.)
  kept.closeAllConnections();
  await new Promise<void>((resolve) => kept.close(() => resolve()));
  assert.throws(() => createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, promptCache: true }), /promptCache keeps storage for contextTokens positions: give contextTokens with it/);
});

test('with two kept caches (promptCacheSize), two chats taking turns each reuse their own earlier turns', async () => {
  type Answer = { choices: { message: { content: string } }[]; usage: { prompt_tokens_details: { cached_tokens: number } } };
  const server = async (promptCacheSize?: number) => {
    const s = createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, contextTokens: 128, ...(promptCacheSize ? { promptCacheSize } : {}) });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const at = `http://127.0.0.1:${(s.address() as AddressInfo).port}/v1/chat/completions`;
    const ask = async (messages: unknown[]) => (await (await fetch(at, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages, max_tokens: 6 }) })).json()) as Answer;
    return { s, ask };
  };
  // Each chat's second turn, after the other chat's first: what each reused, and the answers.
  const alternate = async (promptCacheSize?: number) => {
    const { s, ask } = await server(promptCacheSize);
    const chats = [[{ role: 'user', content: 'the dog sat on the mat and the cat ran' }], [{ role: 'user', content: 'a bird flew over the big red house today' }]];
    for (const chat of chats) chat.push({ role: 'assistant', content: (await ask(chat)).choices[0]!.message.content }, { role: 'user', content: 'and then?' });
    const second = [];
    for (const chat of chats) second.push(await ask(chat));
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return { cached: second.map((a) => a.usage.prompt_tokens_details.cached_tokens), texts: second.map((a) => a.choices[0]!.message.content) };
  };
  const two = await alternate(2);
  const one = await alternate();
  assert.deepEqual(two.texts, one.texts, 'the same answers either way');
  const firstTurn = tokenizer.encode(tokenizer.applyChatTemplate([{ role: 'user', content: 'the dog sat on the mat and the cat ran' }] as never), { addSpecialTokens: false }).length;
  // With two caches each chat reuses at least its first turn's prompt; with one, the first chat finds the
  // second's text in the cache and reuses only what the two share.
  for (const cached of two.cached) assert.ok(cached >= firstTurn - 2, `${two.cached} cached with two caches, the first turn ${firstTurn} tokens`);
  assert.ok(one.cached[0]! < firstTurn / 2, `${one.cached} cached with one cache`);
  assert.throws(() => createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, promptCacheSize: 2 }), /promptCacheSize is how many prompt caches are kept: give it with contextTokens/);
  assert.throws(() => createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, contextTokens: 64, promptCacheSize: 0 }), /promptCacheSize/);
});

test('--api-key: requests need "Authorization: Bearer <key>" (OpenAI\'s clients send it), 401 otherwise; GET /health needs none', async () => {
  const guarded = createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, apiKey: 'sk-local-7' });
  await new Promise<void>((resolve) => guarded.listen(0, '127.0.0.1', resolve));
  const at = `http://127.0.0.1:${(guarded.address() as AddressInfo).port}`;
  const health = await fetch(`${at}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  for (const authorization of [undefined, 'Bearer sk-local-', 'Bearer sk-local-77', 'sk-local-7', 'bearer sk-local-7']) {
    const r = await fetch(`${at}/v1/models`, { headers: authorization ? { authorization } : {} });
    assert.equal(r.status, 401, String(authorization));
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /this server needs an API key: send the header "Authorization: Bearer <key>"/);
  }
  const refusedBody = await fetch(`${at}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'the', max_tokens: 2 }) });
  assert.equal(refusedBody.status, 401);
  assert.equal((await fetch(`${at}/v1/models`, { headers: { authorization: 'Bearer sk-local-7' } })).status, 200);
  const answer = await new OpenAI({ baseURL: `${at}/v1`, apiKey: 'sk-local-7' }).completions.create({ model: 'tiny', prompt: 'the dog sat', max_tokens: 4 });
  assert.equal(answer.choices[0]!.text, tokenizer.decode(generate(model, tokenizer.encode('the dog sat'), { maxNewTokens: 4, stopTokens: [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])] })));
  await assert.rejects(new OpenAI({ baseURL: `${at}/v1`, apiKey: 'wrong', maxRetries: 0 }).completions.create({ model: 'tiny', prompt: 'the', max_tokens: 1 }), (err: { status?: number }) => err.status === 401);
  guarded.closeAllConnections();
  await new Promise<void>((resolve) => guarded.close(() => resolve()));
  assert.throws(() => createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, apiKey: 'a key' }), /apiKey must be printable ASCII without spaces/);
  assert.throws(() => createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, apiKey: '' }), /apiKey must be/);
});

test('gift serve takes the key from --api-key or GIFTJS_API_KEY, and refuses one that cannot travel in a header', async () => {
  const child = spawn(process.execPath, [GIFT, 'serve', '--model', MODEL, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GIFTJS_API_KEY: 'from-env' } });
  let err = '';
  const at = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += String(d);
      const m = /serving \S+ at (http:\/\/\S+)\/v1 \(requests need the API key\)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`gift serve exited: ${err}`)));
  });
  assert.equal((await fetch(`${at}/health`)).status, 200);
  assert.equal((await fetch(`${at}/v1/models`)).status, 401);
  assert.equal((await fetch(`${at}/v1/models`, { headers: { authorization: 'Bearer from-env' } })).status, 200);
  child.kill('SIGTERM');
  assert.equal(await new Promise<number | null>((resolve) => child.on('exit', resolve)), 0, err);
  const bad = spawn(process.execPath, [GIFT, 'serve', '--model', MODEL, '--port', '0', '--api-key', 'two words'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let badErr = '';
  bad.stderr.on('data', (d) => void (badErr += String(d)));
  assert.equal(await new Promise<number | null>((resolve) => bad.on('exit', resolve)), 1);
  assert.match(badErr, /--api-key must be printable ASCII without spaces/);
});

test('/tokenize and /detokenize as llama.cpp\'s server and vLLM take them: a text\'s tokens, a chat\'s (those a chat completion counts), and back', async () => {
  const server = createOpenAIServer({ model, tokenizer, modelId: 'tiny', defaultMaxTokens: 8, maxTokensLimit: 32, defaultTemperature: 0, maxBodyBytes: 4096, contextTokens: 96 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const at = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = async (route: string, body: unknown) => {
    const r = await fetch(`${at}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & { tokens: number[]; error: { message: string } } };
  };
  const bare = tokenizer.encode('the dog sat', { addSpecialTokens: false });
  const withBos = tokenizer.encode('the dog sat');
  assert.notDeepEqual(bare, withBos, 'the fixture\'s tokenizer adds a BOS token');
  // llama.cpp's content: no special tokens unless add_special; vLLM's prompt: with them unless add_special_tokens false.
  assert.deepEqual((await post('/tokenize', { content: 'the dog sat' })).body, { tokens: bare, count: bare.length, max_model_len: 96 });
  assert.deepEqual((await post('/tokenize', { content: 'the dog sat', add_special: true })).body.tokens, withBos);
  assert.deepEqual((await post('/tokenize', { prompt: 'the dog sat' })).body.tokens, withBos);
  assert.deepEqual((await post('/tokenize', { prompt: 'the dog sat', add_special_tokens: false })).body.tokens, bare);
  const messages = [{ role: 'user', content: 'the dog sat' }];
  const chatTokens = (await post('/tokenize', { messages })).body.tokens;
  const completion = await post('/v1/chat/completions', { messages, max_tokens: 2 });
  assert.equal(chatTokens.length, (completion.body as unknown as { usage: { prompt_tokens: number } }).usage.prompt_tokens);
  assert.deepEqual(chatTokens, tokenizer.encode(tokenizer.applyChatTemplate(messages as never), { addSpecialTokens: false }));
  const back = (await post('/detokenize', { tokens: withBos })).body;
  assert.deepEqual(back, { content: tokenizer.decode(withBos, { skipSpecialTokens: false }), prompt: tokenizer.decode(withBos, { skipSpecialTokens: false }) });
  assert.match(String(back.content), /the dog sat$/);
  for (const [route, body, message] of [
    ['/tokenize', { content: 'a', prompt: 'b' }, /\/tokenize takes one of 'content' \(llama\.cpp's\), 'prompt' or 'messages' \(vLLM's\); got 'content' and 'prompt'/],
    ['/tokenize', {}, /got none/],
    ['/tokenize', { content: 'a', with_pieces: true }, /'with_pieces' is not supported/],
    ['/tokenize', { prompt: 3 }, /'prompt' must be a string/],
    ['/tokenize', { content: 'a', add_special: 'yes' }, /'add_special' must be true or false, got "yes"/],
    ['/detokenize', { tokens: [1, model.config.vocabSize] }, /'tokens' must be a list of token ids, whole numbers from 0 to/],
  ] as const) {
    const r = await post(route, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.body.error.message, message);
  }
  assert.equal((await fetch(`${at}/tokenize`)).status, 405);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
