// gift export --format wegeft: a GIFT adapter in the layout of the GIFT authors' PEFT fork (WeGeFT).
import { requireModelFolder } from './model_loading.js';
import { join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic.js';
import { saveSafetensors } from '../io/safetensors.js';
import { assertOutputApart } from '../io/output_folder.js';
import { loadCausalLM } from '../models/registry.js';
import { loadAdapter } from '../peft/adapter_io.js';
import { AttachedGift } from '../peft/gift/model.js';
import { toWegeft } from '../peft/gift/wegeft.js';
import { parse, requireString } from './args.js';
import { GiftjsError } from '../errors.js';

export const EXPORT_HELP = `gift export --format wegeft --model <dir|org/name> --adapter <dir> --out <dir>

Writes a GIFT adapter in the layout of the GIFT authors' PEFT fork (WeGeFT): adapter_config.json with
r, wegeft_alpha, target_modules, tied_modules (one group per GIFT pair, each layer's exact path) and
transform_dim "input"; adapter_model.safetensors with each pair once, on its group's first layer, as
wegeft_phi.weight (phi) and wegeft_psi.weight (psi transposed), both [r, in]. gift convert wegeft reads
such a folder back.
`;

export async function exportCommand(argv: string[]): Promise<number> {
  const s = { type: 'string' } as const;
  const { values } = parse(argv, { format: s, model: s, adapter: s, out: s });
  if (values.help) {
    console.log(EXPORT_HELP);
    return 0;
  }
  if (values.format !== 'wegeft') throw new GiftjsError(`--format must be wegeft, got ${JSON.stringify(values.format ?? null)}\n\n${EXPORT_HELP}`);
  const modelDir = await requireModelFolder(values, EXPORT_HELP);
  const adapterDir = requireString(values, 'adapter', EXPORT_HELP);
  const out = requireString(values, 'out', EXPORT_HELP);
  assertOutputApart(out, [{ flag: '--model', path: modelDir }, { flag: '--adapter', path: adapterDir }]);
  const adapter = loadAdapter(adapterDir, loadCausalLM(modelDir));
  if (!(adapter instanceof AttachedGift)) throw new GiftjsError(`${adapterDir}: a ${adapter.method} adapter; only GIFT adapters have a WeGeFT form`);
  const { config, tensors } = toWegeft(adapter, modelDir);
  writeFolderAtomic(out, (tmp) => {
    writeFileAtomic(join(tmp, 'adapter_config.json'), [`${JSON.stringify(config, null, 2)}\n`]);
    saveSafetensors(join(tmp, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  });
  console.log(`exported ${adapterDir} as WeGeFT -> ${out}`);
  return 0;
}
