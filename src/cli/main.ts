// The `gift` command line: parses the command and hands over to its module.
import { benchCommand } from './bench.js';

const HELP = `gift — fine-tune pretrained Transformers with GIFT from TypeScript

usage: gift <command> [options]

commands:
  bench     benchmarks of the tensor engine (gift bench --help)

Run 'gift <command> --help' for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(HELP);
      return command === undefined ? 2 : 0;
    case 'bench':
      return benchCommand(rest);
    default:
      console.error(`gift: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}
