// LoRA's configuration, with PEFT's field meanings (r, lora_alpha, lora_dropout).
import { configInt, configLayers, configTargets, type AdapterConfig } from '../method.js';
import { GiftjsError } from '../../errors.js';

export interface LoraConfig extends AdapterConfig {
  method: 'lora';
  rank: number;
  /** scale = alpha / rank; PEFT's default lora_alpha is 8. */
  alpha: number;
  dropout: number;
  target_modules: string[];
  layers: number[] | null;
}

export function parseLoraConfig(raw: Record<string, unknown>, source: string): LoraConfig {
  const rank = configInt(raw, 'rank', source, typeof raw.r === 'number' ? raw.r : undefined);
  const alpha = Number(raw.alpha ?? raw.lora_alpha ?? 8);
  if (!(alpha > 0)) throw new GiftjsError(`${source}: 'alpha' must be a positive number, got ${JSON.stringify(raw.alpha)}`);
  const dropout = Number(raw.dropout ?? raw.lora_dropout ?? 0);
  if (!(dropout >= 0 && dropout < 1)) throw new GiftjsError(`${source}: 'dropout' must be in [0, 1), got ${JSON.stringify(raw.dropout)}`);
  return { method: 'lora', rank, alpha, dropout, target_modules: configTargets(raw, source), layers: configLayers({ layers: raw.layers ?? raw.layers_to_transform ?? null }, source) };
}
