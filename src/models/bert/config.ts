// BERT and RoBERTa configurations as Hugging Face's config.json writes them.
import { checkSizeLimit, configNumbers } from '../config_limits.js';
import { join } from 'node:path';
import { parseId2label, readJsonFile } from '../../io/hf_folder.js';
import { GiftjsError } from '../../errors.js';

export const BERT_ARCHITECTURES = ['BertModel', 'BertForSequenceClassification', 'BertForMaskedLM', 'BertForPreTraining'];
export const ROBERTA_ARCHITECTURES = ['RobertaModel', 'RobertaForSequenceClassification', 'RobertaForMaskedLM'];

export interface BertConfig {
  architecture: string;
  /** RoBERTa counts positions from padding_idx + 1 and classifies with a two-layer head on <s>. */
  roberta: boolean;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  hiddenAct: 'gelu' | 'gelu_new';
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  padTokenId: number;
  /** Label names when the checkpoint has a classifier (id2label), else null. */
  id2label: string[] | null;
  problemType: string | null;
  /** Training dropouts, as transformers applies them: hidden_dropout_prob after the embeddings and each sublayer's dense, attention_probs_dropout_prob on the attention probabilities, classifier_dropout (else the hidden one) in the head. */
  hiddenDropout: number;
  attentionDropout: number;
  classifierDropout: number;
}

export function parseBertConfig(raw: Record<string, unknown>, source: string): BertConfig {
  const arch = String((raw.architectures as unknown[] | undefined)?.[0] ?? (raw.model_type === 'roberta' ? 'RobertaModel' : 'BertModel'));
  const roberta = raw.model_type === 'roberta' || arch.startsWith('Roberta');
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new GiftjsError(`${source}: '${key}' must be a non-negative integer, got ${JSON.stringify(raw[key])}`);
    checkSizeLimit(key, v, source);
    return v;
  };
  // (A layer_norm_eps that was not a number had been replaced by the default without a word.)
  const { positive, probability } = configNumbers(raw, source, (message) => {
    throw new GiftjsError(`${source}: ${message}`);
  });
  const act = String(raw.hidden_act ?? 'gelu');
  if (act !== 'gelu' && act !== 'gelu_new') throw new GiftjsError(`${source}: hidden_act '${act}' is not supported (gelu, gelu_new)`);
  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  if (hidden % heads !== 0) throw new GiftjsError(`${source}: hidden_size ${hidden} is not divisible by num_attention_heads ${heads}`);
  const id2label = parseId2label(raw.id2label, source);
  // BertConfig's and RobertaConfig's defaults (0.1, 0.1, None: the hidden one).
  const hiddenDropout = probability('hidden_dropout_prob', 0.1);
  return {
    architecture: arch, roberta, vocabSize: int('vocab_size'), hiddenSize: hidden, numLayers: int('num_hidden_layers'), numHeads: heads,
    intermediateSize: int('intermediate_size'), hiddenAct: act, maxPositions: int('max_position_embeddings', 512), typeVocabSize: int('type_vocab_size', 2),
    layerNormEps: positive('layer_norm_eps', 1e-12), padTokenId: int('pad_token_id', roberta ? 1 : 0),
    id2label, problemType: typeof raw.problem_type === 'string' ? raw.problem_type : null,
    hiddenDropout, attentionDropout: probability('attention_probs_dropout_prob', 0.1), classifierDropout: probability('classifier_dropout', hiddenDropout),
  };
}

export function readBertConfig(dir: string): BertConfig {
  const path = join(dir, 'config.json');
  return parseBertConfig(readJsonFile(path), path);
}
