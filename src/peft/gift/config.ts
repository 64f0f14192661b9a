// GIFT's configuration: which layers, the rank, the scale, and how (phi, psi) pairs are shared.
import type { TargetModules } from '../targets.js';
import type { GiftShare } from './groups.js';
import { configInt, configLayers, configTargets, RECORDED_FIELDS, type AdapterConfig } from '../method.js';
import { GiftjsError } from '../../errors.js';

export interface GiftConfig extends AdapterConfig {
  method: 'gift';
  rank: number;
  /** scale = alpha / rank; defaults to rank (scale 1). */
  alpha: number;
  target_modules: TargetModules;
  layers: number[] | null;
  /**
   * 'target': one (phi, psi) pair per target name, shared by every matched layer (the paper's
   * default). 'input-size': one pair shared by all targets whose layers have the same input size.
   */
  share: GiftShare;
}

// GIFT's own settings, and what an adapter folder records beside them (with PEFT's names for the base and the saved modules).
const GIFT_FIELDS = new Set(['method', 'rank', 'alpha', 'target_modules', 'layers', 'share', 'modules_to_save', 'base_model_name_or_path', ...RECORDED_FIELDS]);

export function parseGiftConfig(raw: Record<string, unknown>, source: string): GiftConfig {
  // A setting GIFT does not have (a LoRA dropout, say) had been ignored without a word.
  for (const [key, value] of Object.entries(raw)) {
    if (!GIFT_FIELDS.has(key) && !(value == null || value === false)) {
      throw new GiftjsError(`${source}: GIFT option '${key}' = ${JSON.stringify(value)} is not one GIFT has (its settings: rank, alpha, target_modules, layers, share, modules_to_save); remove it`);
    }
  }
  const rank = configInt(raw, 'rank', source);
  const alpha = raw.alpha == null ? rank : Number(raw.alpha);
  if (!(alpha > 0)) throw new GiftjsError(`${source}: 'alpha' must be a positive number, got ${JSON.stringify(raw.alpha)}`);
  const share = raw.share ?? 'target';
  if (share !== 'target' && share !== 'input-size') throw new GiftjsError(`${source}: 'share' must be "target" or "input-size", got ${JSON.stringify(share)}`);
  return { method: 'gift', rank, alpha, target_modules: configTargets(raw, source), layers: configLayers(raw, source), share };
}
