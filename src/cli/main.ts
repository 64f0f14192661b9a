// The `gift` command line: parses the command and hands over to its module.
import { chooseBackend } from './backend_choice.js';
import { sep } from 'node:path';
import { loadAddon } from '../backend/native/binding.js';
import { resolveHubAdapterArguments } from '../io/hub.js';
import { GIFTJS_VERSION } from '../version.js';
import { benchCommand } from './bench.js';
import { convertCommand } from './convert.js';
import { evalCommand } from './eval.js';
import { explainCommand } from './explain.js';
import { exportCommand } from './export.js';
import { generateCommand } from './generate.js';
import { inspectCommand } from './inspect.js';
import { mergeCommand } from './merge.js';
import { prepareCommand } from './prepare.js';
import { trainCommand } from './train.js';
import { serveCommand } from './serve.js';
import { pushCommand } from './push.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  train: trainCommand,
  inspect: inspectCommand,
  eval: evalCommand,
  generate: generateCommand,
  serve: serveCommand,
  push: pushCommand,
  merge: mergeCommand,
  export: exportCommand,
  prepare: prepareCommand,
  convert: convertCommand,
  bench: benchCommand,
  explain: explainCommand,
};

/** Commands whose --adapter may be a hub id (PEFT adapters load by id, as PeftModel.from_pretrained). */
const ADAPTER_COMMANDS = new Set(['eval', 'generate', 'serve', 'merge', 'export', 'inspect', 'explain']);

const HELP = `gift — fine-tune pretrained Transformers with GIFT from TypeScript

usage: gift <command> [options]

commands:
  train     fine-tune a model folder with GIFT, LoRA, full, BitFit or head-only (language modelling,
            --task seqcls text classification, --task imgcls image classification)
  inspect   architecture, sizes and parameter counts of a model folder (and of GIFT / LoRA on it)
  eval      loss and perplexity, the paper's commonsense/math tasks, or classification metrics
  generate  text from a prompt (greedy or sampled), with an optional adapter
  serve     an OpenAI-compatible server (/v1/chat/completions, /v1/completions, streaming) for a model
  merge     fold an adapter into the weights and export a Hugging Face folder
  push      upload an adapter (or merged model) folder to a hub repository, with a model card
  export    --format gguf: the model (adapter merged) as one GGUF file for llama.cpp / Ollama;
            --format wegeft: a GIFT adapter in the GIFT authors' PEFT-fork layout
  prepare   training data as token shards for PyTorch's engine (torchrun -m gift_torch.train)
  convert   llama2c <model.bin> --tokenizer <tok.bin> --out <dir> | use-lite [<dist dir>] --out <dir> |
            wegeft <adapter dir> --model <dir> --out <dir>
  explain   GIFT's cluster maps: prototype heat maps over an image, or the tokens each prototype picks
  bench     benchmarks of the tensor engine (gift bench --help)

Run 'gift <command> --help' for a command's options, 'gift --version' for the version.
`;

/** The version, and which kernels this installation runs on. */
function versionText(): string {
  const { addon, path } = loadAddon();
  const kernels = addon && path ? `native kernels (${path.includes(`${sep}prebuilds${sep}`) ? 'prebuilt' : 'built from source'})` : 'TypeScript kernels (no native addon)';
  return `giftjs ${GIFTJS_VERSION} on Node ${process.versions.node}, ${process.platform}-${process.arch}, ${kernels}`;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(HELP);
      return command === undefined ? 2 : 0;
    case '-v':
    case '--version':
    case 'version':
      console.log(versionText());
      return 0;
    default: {
      const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
      if (!run) {
        console.error(`gift: unknown command '${command}'\n\n${HELP}`);
        return 2;
      }
      const args = await chooseBackend(command, rest);
      return run(ADAPTER_COMMANDS.has(command) ? await resolveHubAdapterArguments(args) : args);
    }
  }
}
