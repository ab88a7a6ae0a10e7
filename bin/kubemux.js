#!/usr/bin/env node
// Thin launcher: the CLI is written in TypeScript and compiled to dist/ by `npm run build`
// (which `npm ci` runs through the `postprepare` script; `npm pack` through `prepack`).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`kubemux: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
