// Stop sequences (OpenAI's `stop`, llama.cpp server's and mlx_lm.server's too): generation ends where
// the text first holds one of them, and the text returned ends before it. While text is streamed,
// its end that could still grow into a stop sequence is held back, so no part of one is ever sent.

/** Where the earliest of `stops` begins in text, or -1 where none does. */
export function firstStopAt(text: string, stops: readonly string[]): number {
  let first = -1;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (first < 0 || at < first)) first = at;
  }
  return first;
}

/**
 * The length of the longest end of text that is the beginning of a stop sequence (and not a whole
 * one): the characters to hold back until the next tokens say whether the sequence completes.
 */
export function stopPrefixAtEnd(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}
