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
