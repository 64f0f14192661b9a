// The paper's prompt templates (exact strings from the paper's protocols).

export const COMMONSENSE_TRIGGER = 'the correct answer is ';

/** Commonsense170k-style: "<instruction>\n" then the trigger; the target is the answer. */
export function commonsensePrompt(instruction: string): string {
  return `${instruction}\n${COMMONSENSE_TRIGGER}`;
}

/** Alpaca, used for math (no input) and instruction tuning (with input). */
export function alpacaPrompt(instruction: string, input = ''): string {
  if (input.trim() === '') {
    return `Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n${instruction}\n\n### Response:\n`;
  }
  return `Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`;
}

/** GSM8K's original JSONL: the question, then the step-by-step instruction. */
export function gsm8kPrompt(question: string): string {
  return `${question}\nAnswer the above question. First think step by step and then answer the final number.\n`;
}
