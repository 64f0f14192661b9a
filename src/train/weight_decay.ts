// Which trained tensors weight decay applies to: as transformers' Trainer (and TRL's trainers on it)
// chooses them, every one except biases and normalization weights -- decaying a LayerNorm's gain or a
// bias towards 0 only pulls the model away from its own scale, which is why the Trainer leaves them
// out. Trainer.get_decay_parameter_names: the parameters of torch.nn.LayerNorm modules, and those
// whose full name (lower case) matches "bias", "layernorm", "rmsnorm", a ".norm." part or a "_norm"
// part. giftjs's modules carry transformers' names, so the same patterns pick the same tensors; its
// LayerNorm and RMSNorm modules stand in for torch.nn.LayerNorm (a family's own norm, as Gemma's,
// is named as transformers names it, which the patterns catch).
import { LayerNorm, RMSNorm } from '../nn/layers.js';
import type { Module } from '../nn/module.js';

const NO_DECAY_PATTERNS = [/bias/, /layernorm/, /rmsnorm/, /(?:^|\.)norm(?:$|\.)/, /_norm(?:$|\.)/];

/** Whether weight decay applies to the model's tensor of this name (its name in namedParameters or an adapter's namedTrainable). */
export function weightDecayApplies(model: Module): (name: string) => boolean {
  const norms = new Set<string>();
  for (const [path, m] of model.namedModules()) {
    if (m instanceof LayerNorm || m instanceof RMSNorm) for (const [n] of m.namedParameters(path ? `${path}.` : '')) norms.add(n);
  }
  return (name) => !norms.has(name) && !NO_DECAY_PATTERNS.some((p) => p.test(name.toLowerCase()));
}
