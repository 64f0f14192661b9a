// The peak memory giftjs reports (metrics.json's peak_rss_mb, the step benchmarks' peak RSS) is the
// process's own. getrusage's maxrss is not on Linux: it is carried across exec, so a run started by a
// process holding 400 MB reports at least 400 MB. The Python peers report VmHWM for the same reason.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SYSTEM_MEMORY = fileURLToPath(new URL('../../src/io/system_memory.js', import.meta.url));
const onLinux = existsSync('/proc/self/status');

test('a process started by a large one reports its own peak, not its parent\'s', { skip: onLinux ? false : 'VmHWM is Linux\'s; elsewhere maxrss is all there is' }, () => {
  const held = Buffer.alloc(400e6, 1); // resident in this process when the child is forked
  const child = spawnSync(process.execPath, ['--input-type=module', '-e',
    `import { peakResidentBytes } from ${JSON.stringify(SYSTEM_MEMORY)}; console.log(JSON.stringify({ own: peakResidentBytes(), maxrss: process.resourceUsage().maxRSS * 1024 }));`], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  const { own, maxrss } = JSON.parse(child.stdout) as { own: number; maxrss: number };
  assert.ok(held[held.length - 1] === 1);
  // What the fix is for (where the kernel carries maxrss across exec, as Linux does today):
  console.log(`the child's getrusage maxrss: ${(maxrss / 1e6).toFixed(0)} MB; its own peak (VmHWM): ${(own / 1e6).toFixed(0)} MB`);
  assert.ok(own > 10e6 && own < 200e6, `the child's own peak: ${own}`);
});

test('the Python peers report their own peak too', { skip: onLinux ? false : 'VmHWM is Linux\'s' }, () => {
  const held = Buffer.alloc(400e6, 1);
  const bench = fileURLToPath(new URL('../../../bench', import.meta.url));
  // torch_timed_steps imports torch; its peak_rss_mb does not need it, so it is read from the source.
  const r = spawnSync('python3', ['-c', `import ast, resource, sys
src = open(${JSON.stringify(bench + '/torch_timed_steps.py')}).read()
fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "peak_rss_mb")
ns = {"resource": resource, "sys": sys}
exec(compile(ast.Module(body=[fn], type_ignores=[]), "torch_timed_steps.py", "exec"), ns)
print(ns["peak_rss_mb"]())`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(held[0] === 1);
  const mb = Number(r.stdout.trim());
  assert.ok(mb > 1 && mb < 200, `the peer's own peak: ${mb} MB`);
});
