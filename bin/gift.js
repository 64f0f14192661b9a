#!/usr/bin/env node
// The `gift` command. The TypeScript sources compile to dist/ during `npm install` (prepare).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`gift: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
