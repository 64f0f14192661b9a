// The files giftjs reads from a model or adapter folder (a hub repository, a local folder): the
// hub downloads these and no others, and a run's fingerprint digests these. No Node or hub
// import here: the browser build reaches it through the trainer.

/** A model repository, or a PEFT adapter repository (what PeftModel.from_pretrained reads). */
export type HubRepoKind = 'model' | 'adapter';

/** The file a repository of the kind cannot be without. */
export const CONFIG_FILE: Record<HubRepoKind, string> = { model: 'config.json', adapter: 'adapter_config.json' };

/** The files giftjs reads from a repository (weights as safetensors, configs, tokenizer). */
export function isRepoFile(path: string, kind: HubRepoKind = 'model'): boolean {
  const name = path.split('/').pop()!;
  if (path.includes('/')) return false; // sub-folders hold other formats (onnx/, original/, ...)
  if (kind === 'adapter') return name.endsWith('.safetensors') || name === 'adapter_config.json' || name === 'giftjs_config.json';
  return name.endsWith('.safetensors') || name === 'model.safetensors.index.json' || [
    'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
    'preprocessor_config.json', 'chat_template.jinja', 'chat_template.json',
  ].includes(name);
}
