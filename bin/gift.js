#!/usr/bin/env node
// The `gift` command. The TypeScript sources compile to dist/ during `npm install` (prepare).
import { main } from '../dist/src/cli/main.js';
import { GiftjsError } from '../dist/src/errors.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof GiftjsError) {
      console.error(`gift: ${err.message}`);
      process.exit(1);
    }
    // Anything else is a giftjs bug: say so, with the stack, and a distinct exit code.
    console.error(`gift: internal error (please report it): ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(70);
  },
);
