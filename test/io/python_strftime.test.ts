// strftime_now in chat templates against Python's datetime.strftime (what transformers' renderer calls),
// directive by directive at instants that test the edges (midnight, noon, a leap year's last day, a
// daylight-saving change), and under a German locale, where the renderer's own had written "Dez".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pythonStrftime } from '../../src/io/python_strftime.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const hasPython = spawnSync('python3', ['-c', 'import datetime'], { encoding: 'utf8' }).status === 0;
const SKIP = hasPython ? false : 'no python3 on PATH (Debian\'s, which .ci/run installs)';
const TZ = 'America/New_York';
const FORMAT = '%a|%A|%w|%d|%b|%B|%m|%y|%Y|%H|%I|%p|%M|%S|%f|%j|%z|%Z|%%|%d %b %Y|%B %d, %Y|%Y-%m-%d';

/** Python's datetime.fromtimestamp(t).strftime(FORMAT) for each t, in TZ and a German locale. */
function pythonFormats(seconds: number[]): string[] {
  const r = spawnSync('python3', ['-c', `import datetime, json, sys\nprint(json.dumps([datetime.datetime.fromtimestamp(t).strftime(sys.argv[1]) for t in json.loads(sys.argv[2])]))`,
    FORMAT, JSON.stringify(seconds)], { encoding: 'utf8', env: { ...process.env, TZ, LC_ALL: 'de_DE.UTF-8', LANG: 'de_DE.UTF-8' } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

test('every directive giftjs formats, as Python\'s strftime at edge instants', { skip: SKIP }, () => {
  process.env.TZ = TZ; // Node reads a changed TZ at once
  const instants = ['2026-12-07T01:30:29.250', '2024-12-31T23:59:59.500', '2025-01-01T00:00:00', '2026-03-08T01:59:59', '2026-03-08T03:00:00',
    '2026-11-01T01:30:00', '2026-07-04T12:00:00', '2026-07-04T00:05:00', '2000-02-29T13:07:08.750', '1999-09-09T09:09:09']
    .map((local) => new Date(local)); // local times in TZ
  const expected = pythonFormats(instants.map((d) => d.getTime() / 1000));
  instants.forEach((d, i) => assert.equal(pythonStrftime(d, FORMAT), expected[i], d.toString()));
});

test('a directive giftjs does not format is refused by name, not left in the prompt', () => {
  assert.throws(() => pythonStrftime(new Date(), 'week %U'), /the chat template calls strftime_now with '%U', which giftjs does not format \(it has %a %A/);
  assert.throws(() => pythonStrftime(new Date(), 'ends with %'), /strftime_now with '%'/);
  assert.throws(() => pythonStrftime(new Date(), 3), /the chat template calls strftime_now with number; it takes a format string/);
});

test('a chat template\'s strftime_now writes English month names under a German locale, as transformers does', { skip: SKIP }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-strftime-'));
  const folder = join(dir, 'tok');
  spawnSync('cp', ['-r', join(ROOT, 'test/fixtures/llama/llama-gqa'), folder]);
  writeFileSync(join(folder, 'chat_template.jinja'), '{{ strftime_now("%d %b %Y") }}|{{ strftime_now("%B %A") }}');
  const script = join(dir, 'render.mjs');
  writeFileSync(script, `import { Tokenizer } from ${JSON.stringify(join(ROOT, 'dist/src/io/tokenizer.js'))};\n`
    + `console.log(Tokenizer.fromFolder(${JSON.stringify(folder)}).applyChatTemplate([{ role: 'user', content: 'x' }]));\n`);
  const env = { ...process.env, TZ, LC_ALL: 'de_DE.UTF-8', LANG: 'de_DE.UTF-8' };
  const python = () => spawnSync('python3', ['-c', 'import datetime; n = datetime.datetime.now(); print(n.strftime("%d %b %Y") + "|" + n.strftime("%B %A"))'], { encoding: 'utf8', env }).stdout.trim();
  // Python's rendering just before and just after giftjs's: a run across midnight gives two days, one of them giftjs's.
  const before = python();
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', env });
  const after = python();
  assert.equal(r.status, 0, r.stderr);
  assert.ok([before, after].includes(r.stdout.trim()), `${r.stdout.trim()}: Python wrote ${before} before it and ${after} after it`);
  assert.match(r.stdout, /^\d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\|[A-Z][a-z]+ [A-Z][a-z]+day\n$/);
});
