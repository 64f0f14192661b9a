// The PEFT methods by name. Everything outside src/peft asks here.
import { bitfitMethod, fullMethod, headMethod } from './baselines/model.js';
import { giftMethod } from './gift/model.js';
import { loraMethod } from './lora/model.js';
import type { MethodName, PeftMethod } from './method.js';
import { GiftjsError } from '../errors.js';

const METHODS: Record<MethodName, PeftMethod> = {
  gift: giftMethod,
  lora: loraMethod,
  full: fullMethod,
  bitfit: bitfitMethod,
  head: headMethod,
};

export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

export function peftMethod(name: string): PeftMethod {
  const m = Object.hasOwn(METHODS, name) ? METHODS[name as MethodName] : undefined;
  // DoRA is LoRA's option, as in PEFT (use_dora) -- mlx-lm's --fine-tune-type dora names it as a method.
  if (!m && name === 'dora') throw new GiftjsError(`method 'dora' is LoRA with DoRA's magnitudes (PEFT's use_dora): use --method lora --use-dora (in a config file, method: lora and use_dora: true)`);
  if (!m) throw new GiftjsError(`unknown method '${name}' (choose one of ${METHOD_NAMES.join(', ')})`);
  return m;
}

/** The method PEFT saves as this peft_type ("LORA"), if giftjs has it. */
export function methodForPeftType(peftType: string): PeftMethod | undefined {
  return Object.values(METHODS).find((m) => m.peftType === peftType);
}

export function peftTypes(): string[] {
  return Object.values(METHODS).flatMap((m) => (m.peftType ? [m.peftType] : []));
}
