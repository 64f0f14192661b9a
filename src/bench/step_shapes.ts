// The model shapes the step and generation benchmarks run (config.json fields, random weights).
export const STEP_SHAPES: Record<string, Record<string, unknown>> = {
  'smollm2-135m': {
    architectures: ['LlamaForCausalLM'], hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
    num_key_value_heads: 3, vocab_size: 49152, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, max_position_embeddings: 8192,
  },
  'llama-3.2-1b': {
    architectures: ['LlamaForCausalLM'], hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
    num_key_value_heads: 8, vocab_size: 128256, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true, max_position_embeddings: 131072,
  },
  // The paper's headline model: bf16 (16 GB), --dtype int8 or int4 on a machine of 24 GB or less.
  'llama-3-8b': {
    architectures: ['LlamaForCausalLM'], hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
    num_key_value_heads: 8, vocab_size: 128256, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: false, max_position_embeddings: 8192,
  },
};

/** The config of a --shape of STEP_SHAPES, or undefined: looked up as the table's own key ('constructor' is no shape). */
export function stepShape(name: string): Record<string, unknown> | undefined {
  return Object.hasOwn(STEP_SHAPES, name) ? STEP_SHAPES[name] : undefined;
}

/**
 * The encoder shapes `gift bench step` also trains (the paper's ViT and GLUE settings, and the step of
 * `npm run demo`), beside the causal-LM ones above.
 */
export const ENCODER_STEP_SHAPES = ['vit-b16', 'bert-base', 'use-lite'] as const;
