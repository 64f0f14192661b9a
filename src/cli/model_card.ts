// The README.md (model card) gift push puts beside an adapter that has none: what the hub shows and
// what a reader needs to use it -- the base model, the method and its settings, and, when the adapter
// sits in a run folder gift train wrote, the data files, updates and held-out losses of that run.
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { fileExists, readTextFile } from '../io/files.js';
import { readJsonFile } from '../io/hf_folder.js';
import { readAdapterConfig } from '../peft/adapter_io.js';

export function modelCard(folder: string, repo: string): string {
  const isAdapter = fileExists(join(folder, 'adapter_config.json'));
  const config = isAdapter ? readAdapterConfig(folder) : fileExists(join(folder, 'config.json')) ? readJsonFile(join(folder, 'config.json')) : {};
  const method = String(config.method ?? (config.peft_type === 'LORA' ? 'lora' : config.peft_type ?? 'merged'));
  const base = typeof config.base_model_name_or_path === 'string' ? config.base_model_name_or_path : null;
  const targets = Array.isArray(config.target_modules) ? config.target_modules.join(', ') : typeof config.target_modules === 'string' ? config.target_modules : null;
  const rank = config.rank ?? config.r ?? null;
  // A run folder gift train wrote around the adapter: its settings and results.
  const run = dirname(folder);
  const metrics = isAdapter && fileExists(join(run, 'metrics.json')) ? readJsonFile(join(run, 'metrics.json')) : null;
  const settings = isAdapter && fileExists(join(run, 'config.yaml')) ? (parseYaml(readTextFile(join(run, 'config.yaml'))) as Record<string, unknown> | null) : null;
  const front = ['---', ...(base && !base.startsWith('/') && !base.startsWith('.') ? [`base_model: ${base}`] : []), `library_name: ${method === 'lora' ? 'peft' : 'giftjs'}`, 'tags:', '- giftjs', `- ${method}`, '---', ''];
  const lines = [`# ${repo}`, ''];
  lines.push(isAdapter
    ? `A ${method === 'gift' ? 'GIFT (Generative Parameter-Efficient Fine-Tuning, arXiv 2312.00700)' : method.toUpperCase()} adapter trained with [giftjs](https://www.npmjs.com/package/giftjs)${base ? ` on \`${base}\`` : ''}.`
    : `A model written by giftjs (gift merge: an adapter folded into its base weights).`);
  lines.push('');
  const facts: [string, unknown][] = [
    ['method', method], ['rank', rank], ['alpha', config.alpha ?? config.lora_alpha ?? null], ['target modules', targets],
    ['training data', settings?.data ?? null], ['held-out data', settings?.['eval-data'] ?? null],
    ['updates', metrics?.steps ?? null], ['learning rate', settings?.lr ?? null], ['batch size', settings?.['batch-size'] ?? null],
    ['held-out loss', metrics?.held_out_loss_start != null && metrics?.held_out_loss_end != null ? `${Number(metrics.held_out_loss_start).toFixed(4)} before, ${Number(metrics.held_out_loss_end).toFixed(4)} after` : null],
    ['final training loss', metrics?.final_train_loss != null ? Number(metrics.final_train_loss).toFixed(4) : null],
  ];
  const known = facts.filter(([, v]) => v !== null && v !== undefined && v !== '');
  if (known.length > 0) {
    lines.push('| | |', '| --- | --- |', ...known.map(([k, v]) => `| ${k} | ${String(v).replace(/\|/g, '\\|')} |`), '');
  }
  if (isAdapter) {
    lines.push('## Use', '', '```', `npx gift generate --model ${base ?? '<base model>'} --adapter ${repo} --prompt "..."`, '```', '');
    if (method === 'lora') lines.push('PEFT loads it as well: `PeftModel.from_pretrained(base_model, "' + repo + '")`.', '');
  }
  return [...front, ...lines].join('\n');
}
