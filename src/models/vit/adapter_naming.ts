// ViT's module names in adapter files. transformers 5 builds ViT with other module names than its
// checkpoints keep (vit.layers.0.attention.q_proj in memory, vit.encoder.layer.0.attention.attention.query
// in model.safetensors), and PEFT 0.21 saves and loads adapters under the in-memory names (checked
// 2026-12-02: it refuses an adapter under the checkpoint names). giftjs's ViT keeps the checkpoint
// names; adapters are read under either naming and written under transformers 5's when the base
// folder was written by transformers 5 or later.
import type { AdapterNaming } from '../../nn/module.js';

/** [checkpoint name pattern, transformers 5 name] for the module paths of one layer. */
const RENAMES: [RegExp, string, RegExp, string][] = [
  ['attention.attention.query', 'attention.q_proj'],
  ['attention.attention.key', 'attention.k_proj'],
  ['attention.attention.value', 'attention.v_proj'],
  ['attention.output.dense', 'attention.o_proj'],
  ['intermediate.dense', 'mlp.fc1'],
  ['output.dense', 'mlp.fc2'],
].map(([ours, theirs]) => [
  new RegExp(`^(.*)vit\\.encoder\\.layer\\.(\\d+)\\.${ours!.replace(/\./g, '\\.')}$`), `$1vit.layers.$2.${theirs}`,
  new RegExp(`^(.*)vit\\.layers\\.(\\d+)\\.${theirs!.replace(/\./g, '\\.')}$`), `$1vit.encoder.layer.$2.${ours}`,
]);

function rename(path: string, forward: boolean): string {
  for (const [ours, theirsName, theirs, oursName] of RENAMES) {
    const from = forward ? ours : theirs;
    if (from.test(path)) return path.replace(from, forward ? theirsName : oursName);
  }
  return path;
}

export function vitAdapterNaming(transformersVersion: string | null): AdapterNaming {
  const major = Number(/^(\d+)\./.exec(transformersVersion ?? '')?.[1] ?? 0);
  return { toSaved: (p) => rename(p, true), fromSaved: (p) => rename(p, false), writeSaved: major >= 5 };
}
