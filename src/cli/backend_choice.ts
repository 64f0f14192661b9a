// Which backend a command runs on: `--backend ref|native|webgpu` or GIFTJS_BACKEND. ref and native
// are chosen as the library chooses them; webgpu needs an asynchronous start (a GPU adapter and
// device from the optional `webgpu` package, Dawn) and reads GPU memory only asynchronously, which
// gift train's whole path does (loss, held-out loss, gradient norm, checkpoints, adapter), so
// gift train runs on it and the other commands refuse it by name.
import { setBackend, useBackend } from '../backend/index.js';
import { createWebGpuBackend, requestWebGpuDevice } from '../backend/webgpu/index.js';
import { importOptional } from '../io/optional_package.js';
import { GiftjsError } from '../errors.js';

/** The commands whose every host read is asynchronous. */
const WEBGPU_COMMANDS = new Set(['train']);

/** Takes `--backend X` out of argv and starts the backend it (or GIFTJS_BACKEND) names; returns the rest of argv. */
export async function chooseBackend(command: string, argv: string[]): Promise<string[]> {
  const rest = [...argv];
  let flag: string | undefined;
  const at = rest.findIndex((a) => a === '--backend' || a.startsWith('--backend='));
  if (at >= 0) {
    const [arg] = rest.splice(at, 1);
    flag = arg!.includes('=') ? arg!.slice('--backend='.length) : rest.splice(at, 1)[0];
    if (!flag) throw new GiftjsError('--backend needs a value: ref, native or webgpu');
  }
  const name = flag ?? process.env.GIFTJS_BACKEND;
  if (name === 'webgpu') {
    if (!WEBGPU_COMMANDS.has(command)) {
      throw new GiftjsError(`the webgpu backend runs gift train only so far (gift ${command} still reads GPU memory synchronously somewhere); run gift ${command} on ref or native`);
    }
    useBackend(createWebGpuBackend(await requestWebGpuDevice(await nodeGpu())));
  } else if (flag !== undefined) {
    if (flag !== 'ref' && flag !== 'native') throw new GiftjsError(`--backend must be ref, native or webgpu, got '${flag}'`);
    setBackend(flag);
  }
  return rest;
}

/** navigator.gpu's counterpart in Node: the `webgpu` package's GPU (Dawn), with WebGPU's globals installed. */
async function nodeGpu(): Promise<GPU> {
  const dawn = await importOptional<{ create: (options: string[]) => GPU; globals: Record<string, unknown> }>('webgpu', 'the webgpu backend in Node');
  Object.assign(globalThis, dawn.globals);
  return dawn.create([]);
}
