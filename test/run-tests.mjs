#!/usr/bin/env node
// Runs every compiled *.test.js under dist/test with node's test runner.
//
// Why not `node --test dist/test/`: Node 20 then also runs every other .js file below a folder
// named "test" (support modules, scripts), because its default patterns include **/test/**/*.js.
// Optional arguments narrow the run to paths containing them: `npm test -- unit/session`.
// Each file's results follow a header line naming it (file-reporter.mjs).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../dist/test', import.meta.url));
const filters = process.argv.slice(2);

function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.name.endsWith('.test.js')) yield path;
  }
}

const files = [...walk(root)]
  .filter((file) => filters.length === 0 || filters.some((f) => relative(root, file).includes(f)))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under ${root}${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}
// The spec reporter with a header per test file (file-reporter.mjs); with source maps (the
// contributors' build has them), headers and stack traces name the TypeScript sources.
const reporter = fileURLToPath(new URL('./file-reporter.mjs', import.meta.url));
const result = spawnSync(process.execPath, ['--enable-source-maps', '--test', `--test-reporter=${reporter}`, '--test-reporter-destination=stdout', ...files], {
  stdio: 'inherit',
  env: { ...process.env, KUBEMUX_TEST_ROOT: fileURLToPath(new URL('..', import.meta.url)) },
});
process.exit(result.status ?? 1);
