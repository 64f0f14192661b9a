// Regular expressions from files (tokenizer.json's Split and Replace patterns, an adapter's regex
// target_modules) run on JavaScript's backtracking engine, where a group repeated without bound
// around a body that also repeats without bound -- (a+)+, (\w*)*, (▁?a+)+$ -- takes exponential
// time on a string that almost matches: one such pattern hangs giftjs. Such nesting is found by
// reading the pattern (escapes and character classes skipped), and refused by name. Overlapping
// alternatives under a repetition ((a|aa)*) are not detected; no tokenizer or PEFT config seen in
// use nests repetitions at all.
import { GiftjsError } from '../errors.js';

/** The first group of `pattern` repeated without bound whose body repeats without bound, or null. */
export function nestedRepetition(pattern: string): string | null {
  // For each open group: where it starts, and whether its body holds an unbounded repetition.
  const open: { start: number; unbounded: boolean }[] = [{ start: 0, unbounded: false }];
  let lastGroup: { start: number; end: number; unbounded: boolean } | null = null;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    let atomEnd = -1; // index after an atom that a quantifier may follow
    let closed: { start: number; end: number; unbounded: boolean } | null = null;
    if (c === '\\') {
      i++;
      // \p{L}, \u{1F600}, \k<name>: the braces or brackets belong to the escape.
      if ('pPu'.includes(pattern[i] ?? '') && pattern[i + 1] === '{') i = pattern.indexOf('}', i) === -1 ? pattern.length : pattern.indexOf('}', i);
      else if (pattern[i] === 'k' && pattern[i + 1] === '<') i = pattern.indexOf('>', i) === -1 ? pattern.length : pattern.indexOf('>', i);
      atomEnd = i + 1;
    } else if (c === '[') {
      // A character class: skip to its closing bracket (escapes inside kept whole).
      i++;
      if (pattern[i] === '^') i++;
      if (pattern[i] === ']') i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      atomEnd = i + 1;
    } else if (c === '(') {
      open.push({ start: i, unbounded: false });
      continue;
    } else if (c === ')') {
      const g = open.pop();
      if (!g || open.length === 0) return null; // unbalanced: the engine reports it
      closed = { start: g.start, end: i + 1, unbounded: g.unbounded };
      // What the group holds, its parent holds too.
      if (g.unbounded) open[open.length - 1]!.unbounded = true;
      atomEnd = i + 1;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      continue; // a quantifier with nothing before it: left to the engine
    } else {
      atomEnd = i + 1;
    }
    lastGroup = closed;
    // A quantifier after the atom: unbounded when *, + or {n,} (a lazy ? after it changes nothing).
    const q = pattern[atomEnd];
    let unbounded = q === '*' || q === '+';
    if (q === '{') {
      const m = /^\{\d*,\}/.exec(pattern.slice(atomEnd));
      unbounded = m !== null;
    }
    if (unbounded) {
      if (lastGroup?.unbounded) return pattern.slice(lastGroup.start, lastGroup.end) + q;
      open[open.length - 1]!.unbounded = true;
    }
  }
  return null;
}

/**
 * A regular expression from a file or a flag, compiled as `wrap` places it, refused by name when
 * JavaScript cannot read it or when it nests repetitions (see above).
 */
export function checkedRegExp(pattern: string, what: string, wrap: (p: string) => string = (p) => p): RegExp {
  const compile = (source: string) => {
    try {
      return new RegExp(source);
    } catch (err) {
      throw new GiftjsError(`${what} ${JSON.stringify(pattern)} is not a regular expression giftjs can read (${(err as Error).message})`);
    }
  };
  // The pattern must read alone: wrapped, an unbalanced one would close the wrapper's group instead
  // of failing -- "a)|(b" in ^(?:...)$ matches whatever starts with a, ".+)+._(" nests a repetition.
  compile(pattern);
  const nested = nestedRepetition(wrap(pattern));
  if (nested !== null) {
    throw new GiftjsError(`${what} ${JSON.stringify(pattern)}: ${nested} repeats a group that itself repeats without bound, which can take exponential time on JavaScript's regular-expression engine; giftjs refuses it (write the repetition once: (a+)+ is a+)`);
  }
  return compile(wrap(pattern));
}

/**
 * Checks every {"Regex": pattern} in a tokenizer.json (pre-tokenizer splits, normalizer and decoder
 * replaces), and that every Split and Replace step has a pattern of that shape or {"String": text}.
 */
export function checkTokenizerPatterns(json: unknown, source: string, depth = 0): void {
  if (json === null || typeof json !== 'object' || depth > 64) return;
  const step = json as Record<string, unknown>;
  if ((step.type === 'Split' || step.type === 'Replace') && !isPattern(step.pattern)) {
    // The tokenizers library warns and goes on without the pattern: a Split then tokenizes every text to
    // nothing, a Replace replaces nothing; Hugging Face's tokenizers refuses to read the file.
    throw new GiftjsError(`${source}: a ${step.type} step's pattern must be {"String": "..."} or {"Regex": "..."}, got ${JSON.stringify(step.pattern)?.slice(0, 80) ?? 'none'}`);
  }
  for (const [key, value] of Object.entries(step)) {
    if (key === 'Regex' && typeof value === 'string') {
      const nested = nestedRepetition(value);
      if (nested !== null) throw new GiftjsError(`${source}: the pattern ${JSON.stringify(value)} repeats ${nested}, a group that itself repeats without bound: it can take exponential time on some texts, so giftjs refuses this tokenizer`);
    } else if (key !== 'vocab' && key !== 'merges' && key !== 'added_tokens') {
      checkTokenizerPatterns(value, source, depth + 1);
    }
  }
}

/** A Split or Replace step's pattern as tokenizer.json writes it: one key, String or Regex, naming a string. */
function isPattern(p: unknown): boolean {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) return false;
  const entries = Object.entries(p);
  return entries.length === 1 && (entries[0]![0] === 'String' || entries[0]![0] === 'Regex') && typeof entries[0]![1] === 'string';
}
