// LoRA's configuration, with PEFT's field meanings: r, lora_alpha, lora_dropout, target_modules (a list
// of names, or one regular expression the whole module path must match), exclude_modules,
// layers_to_transform, rank_pattern / alpha_pattern (per-module rank and alpha), use_rslora
// (scale alpha / sqrt(r)), use_dora (DoRA: dora.ts). Every other PEFT option that changes the math is refused by name.
import { GiftjsError } from '../../errors.js';
import { checkedRegExp } from '../../io/regex_safety.js';
import { configInt, configLayers, configTargets, RECORDED_FIELDS, type AdapterConfig } from '../method.js';
import type { TargetModules } from '../targets.js';

export interface LoraConfig extends AdapterConfig {
  method: 'lora';
  rank: number;
  /** scale = alpha / rank (alpha / sqrt(rank) with use_rslora); PEFT's default lora_alpha is 8. */
  alpha: number;
  dropout: number;
  target_modules: TargetModules;
  /** Modules never adapted: names or dotted suffixes, or a regular expression of the whole path. */
  exclude_modules: TargetModules | null;
  layers: number[] | null;
  use_rslora: boolean;
  /** DoRA: a learned magnitude per output row of each adapted weight (dora.ts). */
  use_dora: boolean;
  /** Per-module rank / alpha: the first key whose pattern ends the module path (PEFT's rule). */
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
}

/**
 * PEFT LoraConfig fields giftjs reads as values that leave LoRA's math unchanged: the value PEFT
 * writes by default (or any value, for fields that only describe the run). A field with another
 * value is refused by name, as is a field giftjs does not know.
 */
const PEFT_FIELDS_AT_DEFAULT: Record<string, (v: unknown) => boolean> = {
  bias: (v) => v === 'none' || v == null,
  fan_in_fan_out: (v) => v === false || v == null,
  lora_bias: (v) => v === false || v == null,
  use_qalora: (v) => v === false || v == null,
  layer_replication: (v) => v == null,
  target_parameters: (v) => v == null || (Array.isArray(v) && v.length === 0),
  trainable_token_indices: (v) => v == null,
  alora_invocation_tokens: (v) => v == null,
  megatron_config: (v) => v == null,
  loftq_config: (v) => v == null || (typeof v === 'object' && Object.keys(v as object).length === 0),
  velora_config: (v) => v == null,
  monteclora_config: (v) => v == null,
  use_bdlora: (v) => v == null,
  arrow_config: (v) => v == null,
  kasa_config: (v) => v == null,
  // Initialisations that rewrite the base weights (PiSSA, OLoRA, CorDA, LoRA-GA, LoftQ) make an
  // adapter that only fits the rewritten base; the others only choose starting values.
  init_lora_weights: (v) => v === true || v === false || v === 'gaussian' || v === 'eva' || v == null,
  // Fields that describe the run or choose only starting values: any value.
  eva_config: () => true, corda_config: () => true, lora_ga_config: () => true, qalora_group_size: () => true, megatron_core: () => true,
  ensure_weight_tying: () => true, runtime_config: () => true, task_type: () => true, peft_type: () => true, peft_version: () => true,
  auto_mapping: () => true, base_model_name_or_path: () => true, revision: () => true, inference_mode: () => true,
  modules_to_save: () => true,
};

/** giftjs's own fields in an adapter_config.json (read below, or by adapter I/O). */
const GIFTJS_FIELDS = new Set(['method', 'rank', 'r', 'alpha', 'lora_alpha', 'dropout', 'lora_dropout', 'target_modules', 'exclude_modules',
  'layers', 'layers_to_transform', 'layers_pattern', 'use_rslora', 'use_dora', 'rank_pattern', 'alpha_pattern', ...RECORDED_FIELDS]);

/** The layer-list names giftjs's layer indices are read from (targets.ts). */
const LAYER_PATTERNS = ['layers', 'layer', 'h', 'blocks'];

function patternTable(raw: unknown, field: string, source: string, integer: boolean): Record<string, number> {
  if (raw == null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new GiftjsError(`${source}: '${field}' must be an object {pattern: value}, got ${JSON.stringify(raw)}`);
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new GiftjsError(`${source}: ${field}[${JSON.stringify(key)}] must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
    }
    checkedRegExp(key, `${source}: ${field} key`);
    out[key] = v;
  }
  return out;
}

export function parseLoraConfig(raw: Record<string, unknown>, source: string): LoraConfig {
  for (const [key, value] of Object.entries(raw)) {
    if (GIFTJS_FIELDS.has(key)) continue;
    const atDefault = Object.hasOwn(PEFT_FIELDS_AT_DEFAULT, key) ? PEFT_FIELDS_AT_DEFAULT[key]! : null;
    if (atDefault ? !atDefault(value) : !(value == null || value === false)) {
      throw new GiftjsError(`${source}: LoRA option '${key}' = ${JSON.stringify(value)} is not supported by giftjs${atDefault ? '' : ' (an option it does not know)'}; remove it or use PEFT for this adapter`);
    }
  }
  const rank = configInt(raw, 'rank', source, typeof raw.r === 'number' ? raw.r : undefined);
  const alpha = Number(raw.alpha ?? raw.lora_alpha ?? 8);
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new GiftjsError(`${source}: 'alpha' must be a positive number, got ${JSON.stringify(raw.alpha ?? raw.lora_alpha)}`);
  const dropout = Number(raw.dropout ?? raw.lora_dropout ?? 0);
  if (!(dropout >= 0 && dropout < 1)) throw new GiftjsError(`${source}: 'dropout' must be in [0, 1), got ${JSON.stringify(raw.dropout ?? raw.lora_dropout)}`);
  const useRslora = raw.use_rslora ?? false;
  if (typeof useRslora !== 'boolean') throw new GiftjsError(`${source}: 'use_rslora' must be true or false, got ${JSON.stringify(useRslora)}`);
  const useDora = raw.use_dora ?? false;
  if (typeof useDora !== 'boolean') throw new GiftjsError(`${source}: 'use_dora' must be true or false, got ${JSON.stringify(useDora)}`);
  const layersPattern = raw.layers_pattern;
  const patterns = layersPattern == null ? [] : Array.isArray(layersPattern) ? layersPattern : [layersPattern];
  if (!patterns.every((p) => typeof p === 'string' && LAYER_PATTERNS.includes(p))) {
    throw new GiftjsError(`${source}: layers_pattern ${JSON.stringify(layersPattern)} is not supported (giftjs reads layer indices after ${LAYER_PATTERNS.join(', ')})`);
  }
  const targets = configTargets(raw, source);
  const layers = configLayers({ layers: raw.layers ?? (typeof raw.layers_to_transform === 'number' ? [raw.layers_to_transform] : raw.layers_to_transform) ?? null }, source);
  if (typeof targets === 'string' && layers) {
    throw new GiftjsError(`${source}: layers_to_transform with a regular-expression target_modules (PEFT ignores the layers then); put the layers in the expression instead`);
  }
  const exclude = raw.exclude_modules == null ? null : configTargets({ target_modules: raw.exclude_modules }, `${source} (exclude_modules)`);
  return {
    method: 'lora', rank, alpha, dropout, target_modules: targets, exclude_modules: exclude, layers, use_rslora: useRslora, use_dora: useDora,
    rank_pattern: patternTable(raw.rank_pattern, 'rank_pattern', source, true),
    alpha_pattern: patternTable(raw.alpha_pattern, 'alpha_pattern', source, false),
  };
}

/** The first key of a rank/alpha pattern that ends the module path (PEFT's get_pattern_key). */
export function patternValue(table: Record<string, number>, path: string, fallback: number): number {
  for (const key of Object.keys(table)) if (checkedRegExp(key, 'pattern key', (k) => `^(?:.*\\.)?(?:${k})$`).test(path)) return table[key]!;
  return fallback;
}

/** LoRA's scale for a layer of rank r and alpha a. */
export function loraScale(config: LoraConfig, rank: number, alpha: number): number {
  return config.use_rslora ? alpha / Math.sqrt(rank) : alpha / rank;
}
