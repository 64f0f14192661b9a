// GIFT in the layout of the authors' PEFT fork (WeGeFT): each tied group's pair is stored once, on the
// group's first layer, as two nn.Linear(in, r) weights, and the fork computes a layer's change as
//     dW = s * (W @ phi_w^T) @ psi_w          (transform_dim "input")
// so phi_w = giftjs's phi [r, in] and psi_w = giftjs's psi^T [r, in]. Groups are written as
// tied_modules: one list of patterns (each layer's exact path) per group, which the fork re.match-es
// against module paths; the first matching layer owns the tensors.
import { checkedRegExp } from '../../io/regex_safety.js';
import type { Module } from '../../nn/module.js';
import { transpose } from '../../ops/shape_ops.js';
import { noGrad } from '../../tensor/autograd.js';
import type { Tensor } from '../../tensor/tensor.js';
import { findTargetLinears } from '../targets.js';
import type { AttachedGift } from './model.js';
import { GiftjsError } from '../../errors.js';

export const WEGEFT_PEFT_TYPE = 'WEGEFT';
const PREFIX = 'base_model.model.';

function escape(path: string): string {
  return path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}


/** The fork's adapter_config.json and tensors for a GIFT adapter. */
export function toWegeft(adapter: AttachedGift, basePath: string): { config: Record<string, unknown>; tensors: Record<string, Tensor> } {
  const c = adapter.config;
  if (typeof c.target_modules === 'string') throw new GiftjsError('WeGeFT export: target_modules as a regular expression cannot be written as the fork\'s name list');
  const tensors: Record<string, Tensor> = {};
  const tied: string[][] = [];
  for (const pair of adapter.pairs) {
    const members = adapter.members.get(pair.group)!;
    tied.push(members.map((m) => `^${escape(m.path)}$`));
    const owner = members[0]!.path;
    tensors[`${PREFIX}${owner}.wegeft_phi.weight`] = pair.phi.clone();
    tensors[`${PREFIX}${owner}.wegeft_psi.weight`] = noGrad(() => transpose(pair.psi, 0, 1)); // the fork stores psi as [r, in]
  }
  const targets = c.target_modules as string[];
  return {
    config: {
      peft_type: WEGEFT_PEFT_TYPE, task_type: 'CAUSAL_LM', r: c.rank, wegeft_alpha: c.alpha, target_modules: targets, tied_modules: tied,
      transform_dim: Object.fromEntries(targets.map((t) => [t.slice(t.lastIndexOf('.') + 1), 'input'])), wegeft_dropout: 0.0, fan_in_fan_out: false,
      bias: 'none', modules_to_save: null, init_wegeft_weights: true, layers_to_transform: c.layers, layers_pattern: null, rank_pattern: {}, alpha_pattern: {},
      base_model_name_or_path: basePath, revision: null, inference_mode: true,
    },
    tensors,
  };
}

/**
 * A WeGeFT adapter as a giftjs GIFT config and named tensors, when its tying is GIFT's grouping on this
 * model (one pair per target name); other tyings, output transforms, dropout and patterns are refused.
 */
export function fromWegeft(model: Module, raw: Record<string, unknown>, read: (name: string) => Tensor | undefined, source: string): { config: Record<string, unknown>; tensors: Map<string, Tensor> } {
  const refuse = (what: string) => {
    throw new GiftjsError(`${source}: ${what} cannot be read as giftjs's GIFT`);
  };
  if (raw.bias !== undefined && raw.bias !== 'none') refuse(`bias ${JSON.stringify(raw.bias)}`);
  if (raw.fan_in_fan_out === true) refuse('fan_in_fan_out');
  if (raw.wegeft_dropout != null && raw.wegeft_dropout !== 0) refuse(`wegeft_dropout ${JSON.stringify(raw.wegeft_dropout)} (dropout on the weights)`);
  for (const k of ['rank_pattern', 'alpha_pattern']) if (raw[k] && Object.keys(raw[k] as object).length > 0) refuse(k);
  const transform = raw.transform_dim ?? 'input';
  const dims = typeof transform === 'string' ? [transform] : Object.values(transform as object);
  if (dims.some((d) => d !== 'input')) refuse(`transform_dim ${JSON.stringify(transform)} (GIFT transforms the input)`);
  const rank = raw.r;
  const targets = raw.target_modules;
  if (!Array.isArray(targets)) refuse('target_modules that is not a list of names');
  const layersRaw = raw.layers_to_transform;
  const layers = layersRaw == null ? null : Array.isArray(layersRaw) ? (layersRaw as number[]) : [layersRaw as number];
  const found = findTargetLinears(model, targets as string[], layers);
  const tied = (raw.tied_modules ?? []) as string[][];
  const groupOf = (path: string): number => tied.findIndex((patterns) => (Array.isArray(patterns) ? patterns : [patterns]).some((p) => checkedRegExp(p, 'tied_modules pattern', (q) => `^(?:${q})`).test(path)));
  // Each layer's tie group (or itself, untied), and GIFT's group of it: the two partitions must agree.
  const tieKey = found.map((f) => (groupOf(f.path) >= 0 ? `tie${groupOf(f.path)}` : f.path));
  const byTarget = new Map<string, Set<string>>();
  found.forEach((f, i) => byTarget.set(f.target, (byTarget.get(f.target) ?? new Set()).add(tieKey[i]!)));
  const owners = new Map<string, string>();
  found.forEach((f, i) => owners.has(tieKey[i]!) || owners.set(tieKey[i]!, f.path));
  for (const [target, keys] of byTarget) {
    if (keys.size !== 1) refuse(`tied_modules that give the '${target}' layers ${keys.size} different pairs (GIFT shares one per target)`);
  }
  const shared = new Set([...byTarget.values()].map((k) => [...k][0]!));
  if (shared.size !== byTarget.size) refuse('tied_modules that share one pair across targets');
  const tensors = new Map<string, Tensor>();
  for (const [target, keys] of byTarget) {
    const owner = owners.get([...keys][0]!)!;
    const phi = read(`${PREFIX}${owner}.wegeft_phi.weight`);
    const psiW = read(`${PREFIX}${owner}.wegeft_psi.weight`);
    if (!phi || !psiW) refuse(`a pair stored on ${owner} that is missing`);
    tensors.set(`gift.${target}.phi`, phi!);
    tensors.set(`gift.${target}.psi`, noGrad(() => transpose(psiW!, 0, 1)));
  }
  return { config: { method: 'gift', rank, alpha: raw.wegeft_alpha ?? 8, target_modules: targets, layers, share: 'target' }, tensors };
}
