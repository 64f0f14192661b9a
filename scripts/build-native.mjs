// Builds the native kernels with node-gyp during `npm install`. A failed build is not fatal:
// giftjs then runs on its plain-TypeScript backend and says so once when it loads.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

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
const result = spawnSync(cmd, [...pre, 'rebuild', ...nodeDirArgs()], { stdio: 'inherit' });
if (result.status !== 0) {
  console.warn('giftjs: the native build failed; giftjs will run on its slower TypeScript backend.');
}
