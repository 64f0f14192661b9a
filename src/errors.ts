// The one error class giftjs throws for anything the user can fix: a bad file, flag, field or value.
// The message names the file, the field and what is allowed. Any other exception reaching the
// command line is a giftjs bug, and is reported as one (with its stack).
export class GiftjsError extends Error {
  override name = 'GiftjsError';
}
