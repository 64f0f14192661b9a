// Choosing the Linear layers a PEFT method changes: by module-name suffix ("q_proj", or a dotted
// suffix such as "attention.output.dense"), optionally only in some layer indices.
import { checkedRegExp } from '../io/regex_safety.js';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { GiftjsError } from '../errors.js';

export interface TargetedLinear {
  /** The module path, e.g. "model.layers.3.self_attn.q_proj". */
  path: string;
  /** Which of the configured target names matched. */
  target: string;
  /** The block index found in the path ("layers.3."), or null outside any block. */
  layer: number | null;
  module: Linear;
}

/**
 * Which modules a method adapts, as PEFT reads target_modules: a list of names or dotted suffixes
 * ("q_proj", "attention.output.dense"), or one string, a regular expression the whole module path
 * must match ("model\\.layers\\.[0-3]\\..*\\.(q_proj|v_proj)").
 */
export type TargetModules = readonly string[] | string;

/** The whole-path regular expression of a string target_modules; a clear error when JS cannot read it. */
export function targetRegExp(pattern: string, what = 'target_modules'): RegExp {
  return checkedRegExp(pattern, what, (p) => `^(?:${p})$`);
}

function matchesName(path: string, names: TargetModules): string | null {
  if (typeof names === 'string') return targetRegExp(names).test(path) ? path.slice(path.lastIndexOf('.') + 1) : null;
  return names.find((t) => [t, TARGET_ALIASES[t]].some((name) => name !== undefined && (path === name || path.endsWith(`.${name}`)))) ?? null;
}

/** timm's names for modules giftjs names as Hugging Face does (a timm ViT loads into HF's tree). */
const TARGET_ALIASES: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, { 'attn.proj': 'attention.output.dense' });

const LAYER_INDEX = /(?:^|\.)(?:layers|layer|h|blocks)\.(\d+)(?:\.|$)/;

export function layerIndexOf(path: string): number | null {
  const m = LAYER_INDEX.exec(path);
  return m ? Number(m[1]) : null;
}

/**
 * The target a module path matches (its name, or a dotted suffix of it), or null when it matches
 * none or lies outside the chosen layers. The one rule for attaching methods and for counting.
 */
export function matchTarget(path: string, targets: TargetModules, layers: readonly number[] | null, exclude: TargetModules | null = null): { target: string; layer: number | null } | null {
  const target = matchesName(path, targets);
  if (!target || (exclude && matchesName(path, exclude))) return null;
  const layer = layerIndexOf(path);
  if (layers && (layer === null || !layers.includes(layer))) return null;
  return { target, layer };
}

/** The Linear modules matching the targets (and layers, when given); errors if a target matches nothing. */
export function findTargetLinears(model: Module, targets: TargetModules, layers: readonly number[] | null, exclude: TargetModules | null = null): TargetedLinear[] {
  if (targets.length === 0) throw new GiftjsError('target_modules is empty: name at least one module (e.g. q_proj)');
  const found: TargetedLinear[] = [];
  const linearPaths: string[] = [];
  for (const [path, module] of model.namedModules()) {
    if (!(module instanceof Linear)) continue;
    linearPaths.push(path);
    const m = matchTarget(path, targets, layers, exclude);
    if (m) found.push({ path, target: m.target, layer: m.layer, module });
  }
  if (layers) {
    const present = new Set(linearPaths.map(layerIndexOf).filter((i): i is number => i !== null));
    const missing = layers.filter((i) => !present.has(i));
    if (missing.length > 0) {
      const span = present.size ? `0-${Math.max(...present)}` : 'none';
      throw new GiftjsError(`layers ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''} are not in this model (its layers: ${span})`);
    }
  }
  for (const t of typeof targets === 'string' ? [targets] : targets) {
    if (!found.some((f) => typeof targets === 'string' || f.target === t)) {
      const names = [...new Set(linearPaths.map((p) => p.replace(/^.*?(?:layers|layer|h|blocks)\.\d+\./, '')))].slice(0, 12);
      throw new GiftjsError(`target '${t}' matches no Linear layer${layers ? ` in layers [${layers.join(', ')}]` : ''}; the model's linear layers are named like: ${names.join(', ')}`);
    }
  }
  return found;
}
