// Builds the native kernels from source with node-gyp (a fresh clone's `npm install` runs it through
// `prepare`; an installed package uses its prebuilt addon and needs this only on a platform it has
// none for). A failed build is not fatal: giftjs then runs on its TypeScript backend and says so.
// With --prebuild (run by `npm pack` through `prepack`) the addon is also copied to
// prebuilds/<platform>-<arch>/, which the package ships, and a failed build is an error.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuild = process.argv.includes('--prebuild');

if (process.env.GIFTJS_SKIP_NATIVE === '1') {
  console.log('giftjs: GIFTJS_SKIP_NATIVE=1, skipping the native build (the ref backend will be used)');
  process.exit(0);
}

// Inside `npm install` npm puts its bundled node-gyp on PATH and in npm_config_node_gyp; when
// this script is run by hand, look for the copy that ships with npm next to node.
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const script = candidates.find((p) => p && existsSync(p));
  return script ? [process.execPath, [script]] : ['node-gyp', []];
}

// Build against the headers installed beside node when they exist, so nothing is downloaded.
function nodeDirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

const [cmd, pre] = nodeGyp();
const result = spawnSync(cmd, [...pre, 'rebuild', ...nodeDirArgs()], { stdio: 'inherit', cwd: root });
if (result.status !== 0) {
  if (prebuild) {
    console.error('giftjs: the native build failed; no prebuilt addon can be packed.');
    process.exit(1);
  }
  console.warn('giftjs: the native build failed; giftjs will run on its slower TypeScript backend.');
} else if (prebuild) {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(root, 'build', 'Release', 'giftjs_native.node'), join(dir, 'giftjs_native.node'));
  console.log(`giftjs: prebuilt addon for ${process.platform}-${process.arch} in ${dir}`);
}
