// The browser build of giftjs: one ESM file, dist/browser/giftjs.mjs, bundled by esbuild from the
// compiled entry dist/src/browser.js. Node's path module becomes path-browserify; the other Node
// built-ins, which the browser entry imports (through loaders that also write files) but never calls,
// become modules whose every function throws by name; process.env is empty.
//   node scripts/browser-bundle.mjs          (npm run build:browser; also part of prepare)
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** esbuild plugin: node:path -> path-browserify; any other node: module -> functions that throw by name. */
export const nodeBuiltinsForBrowser = {
  name: 'node-builtins-for-browser',
  setup(b) {
    b.onResolve({ filter: /^node:path$/ }, () => ({ path: require.resolve('path-browserify') }));
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      loader: 'js',
      contents: `module.exports = new Proxy({}, { get: (_, name) => name === '__esModule' ? false : () => { throw new Error(${JSON.stringify(args.path)} + '.' + String(name) + ' is not available in a browser'); } });`,
    }));
  },
};

/** esbuild options for a browser bundle of `entry` (a compiled .js file). */
export function browserBuildOptions(entry, format = 'esm') {
  return { entryPoints: [entry], bundle: true, format, platform: 'browser', target: 'es2022', logLevel: 'warning', plugins: [nodeBuiltinsForBrowser], define: { 'process.env': '{}' } };
}

export async function buildBrowserBundle(outfile = `${ROOT}dist/browser/giftjs.mjs`) {
  await build({ ...browserBuildOptions(`${ROOT}dist/src/browser.js`), outfile });
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildBrowserBundle();
  console.log(`browser bundle: ${out}`);
}
