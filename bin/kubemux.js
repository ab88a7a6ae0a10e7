#!/usr/bin/env node
// Thin launcher: the CLI is written in TypeScript and compiled to dist/ by `npm run build`
// (which `npm ci` runs through the `postprepare` script; `npm pack` through `prepack`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// A reader that goes away (`kubemux … | head -1`) ends that output, not the process: without a
// listener, the EPIPE is an uncaught 'error' event and a stack trace. (The CLI does the same for
// itself; this covers what the launcher writes.)
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  // A clone installed with --ignore-scripts, or cleaned: say how to build instead of a module stack.
  const root = fileURLToPath(new URL('..', import.meta.url));
  process.stderr.write(`kubemux: not built (no ${fileURLToPath(entry)}): run \`npm run build\` in ${root}\n`);
  process.exitCode = 1;
} else {
  try {
    const { main } = await import(entry.href);
    process.exitCode = await main(process.argv.slice(2));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`kubemux: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exitCode = 1;
  }
}
