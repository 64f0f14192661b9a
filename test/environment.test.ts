// The environment switches giftjs reads: a value it does not understand is refused by name, both
// by the reader and by the gift command as a user would meet it, instead of silently meaning "on".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { checkThreadCount, environmentSwitch } from '../src/environment.js';
import { GiftjsError } from '../src/errors.js';

const GIFT = new URL('../../bin/gift.js', import.meta.url).pathname;
const MODEL = new URL('../../test/fixtures/llama/llama-bf16', import.meta.url).pathname;

function withEnv(name: string, value: string | undefined, body: () => void): void {
  const before = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    body();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

test('a switch is on unset, empty or 1, off at 0, and refused at anything else', () => {
  for (const [value, on] of [[undefined, true], ['', true], ['1', true], ['0', false]] as const) {
    withEnv('GIFTJS_MMAP', value, () => assert.equal(environmentSwitch('GIFTJS_MMAP'), on, `GIFTJS_MMAP=${value}`));
  }
  for (const value of ['false', 'off', 'no', '00', ' 0', 'true']) {
    withEnv('GIFTJS_HUGE_PAGES', value, () => {
      assert.throws(() => environmentSwitch('GIFTJS_HUGE_PAGES'), (e: unknown) => e instanceof GiftjsError && e.message === `GIFTJS_HUGE_PAGES=${value}: set it to 0 (off) or 1 (on, the default), or leave it unset`);
    });
  }
});

test('GIFTJS_NUM_THREADS is a whole number of threads from 1, or unset', () => {
  for (const value of [undefined, '', '1', '16', '1024']) withEnv('GIFTJS_NUM_THREADS', value, () => checkThreadCount());
  // Past 1024, setNumThreads's bound too (9999 had passed here and the kernels had started them).
  for (const value of ['four', '0', '-2', '8x', '2.5', '1025', '9999', '10000']) {
    withEnv('GIFTJS_NUM_THREADS', value, () => assert.throws(() => checkThreadCount(), /GIFTJS_NUM_THREADS=.*: set it to a whole number of kernel threads from 1 to 1024/));
  }
});

test('the gift command refuses a switch it does not understand, naming it', () => {
  for (const [name, value] of [['GIFTJS_MMAP', 'false'], ['GIFTJS_NUM_THREADS', 'four']] as const) {
    const r = spawnSync(process.execPath, [GIFT, 'generate', '--model', MODEL, '--prompt', 'hi', '--max-new-tokens', '2'], { encoding: 'utf8', env: { ...process.env, [name]: value } });
    assert.equal(r.status, 1, `${name}=${value}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${name}=${value}: set it to`));
    assert.doesNotMatch(r.stderr, /bug|at .*\.js:\d+/, 'a user error, not a stack');
  }
});
