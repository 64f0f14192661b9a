// gift push: an adapter folder (or a merged model) to a hub repository, with a model card.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse, requireString } from './args.js';
import { pushFolder } from '../io/hub_push.js';
import { modelCard } from './model_card.js';
import { GiftjsError } from '../errors.js';

export const PUSH_HELP = `gift push <folder> --repo <org/name> [--private] [--message TEXT]

Uploads an adapter folder (runs/gift/adapter) or a merged model folder to a Hugging Face hub repository,
as PEFT's push_to_hub does: the repository is created when missing (--private makes it private), and
every file goes up in one commit -- an upload cut short commits nothing; run it again. A README.md model
card is added when the folder has none: the base model, the method and its settings, and, for an adapter
in a gift train run folder, its data files, updates and held-out losses. The token comes from HF_TOKEN
(write access); HF_ENDPOINT names another hub.
`;

export async function pushCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { repo: { type: 'string' }, private: { type: 'boolean' }, message: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, true);
  if (values.help) {
    console.log(PUSH_HELP);
    return 0;
  }
  const folder = positionals[0];
  if (!folder) throw new GiftjsError(`name the folder to push\n\n${PUSH_HELP}`);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new GiftjsError(`${folder}: no such folder`);
  const repo = requireString(values, 'repo', PUSH_HELP);
  const hasCard = existsSync(join(folder, 'README.md'));
  const result = await pushFolder(folder, {
    repo, private: values.private === true, message: values.message as string | undefined,
    ...(hasCard ? {} : { extraFiles: { 'README.md': modelCard(folder, repo) } }),
  });
  console.error(`${result.created ? 'created' : 'updated'} ${result.url}: ${result.files.join(', ')}${result.commit ? ` (commit ${result.commit})` : ''}${hasCard ? '' : '; README.md is a model card giftjs wrote'}`);
  return 0;
}
