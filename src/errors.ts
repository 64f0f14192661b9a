// The one error class giftjs throws for anything the user can fix: a bad file, flag, field or value.
// The message names the file, the field and what is allowed. Any other exception reaching the
// command line is a giftjs bug, and is reported as one (with its stack).
export class GiftjsError extends Error {
  override name = 'GiftjsError';
  constructor(message: string) {
    super(shortenQuoted(message));
  }
}

/** Quoted values longer than this are cut in messages (a 5 MB string field quoted whole helps nobody). */
const MAX_QUOTED = 200;

function shortenQuoted(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.){200,}"/g, (q) => `${q.slice(0, MAX_QUOTED)}..." (${q.length - 2} characters)`)
    .replace(/[^\s"]{400,}/g, (w) => `${w.slice(0, MAX_QUOTED)}... (${w.length} characters)`);
}

/**
 * Refuses an options object with a key outside `allowed`, by name: from JavaScript a misspelt option
 * ({ transB: true } for transposeB, { learningRate } for lr) was ignored, and the default used instead.
 * (Not for an op that is handed a caller's wider options to pick its own from: linearCrossEntropy
 * takes a model's loss options.)
 */
export function refuseUnknownOptions(options: object, allowed: readonly string[], what: string): void {
  const unknown = Object.keys(options).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new GiftjsError(`${what}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (its options: ${allowed.join(', ')})`);
}
