/**
 * The published package as a consumer meets it: `npm pack` (which builds through `prepack`, from
 * a copy of the repository's package inputs, so the build under test is the publishing one and
 * this repository's dist/ is left alone), then `npm install <tarball>` into a scratch project,
 * offline, then every way in: `import` from ESM, `require()` from CommonJS (Node >= 20.19),
 * `npx kubemux --version`, and a consumer type-checked against the published .d.ts with
 * moduleResolution node16, nodenext, bundler and node10 (the last through `types` and
 * `typesVersions`), with skipLibCheck off so a broken declaration fails.
 *
 * Offline: `npm ci` fetched the dependencies' tarballs into npm's cache, but not their registry
 * metadata, which `npm install <tarball>` would ask for to resolve ranges. So the scratch project
 * gets a package-lock.json made from this repository's (its production entries, which satisfy
 * the tarball's ranges by construction) and npm needs nothing but the cache.
 *
 * Skipped, with the reason, where npm is not installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../support/kube-fixtures.js';
import { REPO_ROOT } from '../support/paths.js';
import { describeRun, runToEnd, type Finished } from '../support/processes.js';

interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly files: readonly string[];
  readonly dependencies: Readonly<Record<string, string>>;
  readonly engines: Readonly<Record<string, string>>;
  readonly bin: Readonly<Record<string, string>>;
  readonly scripts?: Readonly<Record<string, string>>;
}

interface LockEntry {
  readonly dev?: boolean;
  readonly [field: string]: unknown;
}

const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Manifest;
const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** Scripts npm runs (or offers to run) when the package is installed as a dependency. */
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare'];

function npmAvailable(): boolean {
  return spawnSync('npm', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The environment for a nested npm: the caller's, minus what `npm test` says about this package. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_(package|lifecycle)_|^npm_config_local_prefix$|^npm_command$|^INIT_CWD$/.test(name)) continue;
    env[name] = value;
  }
  return env;
}

/** Runs `npm` or `npx` in `cwd` and asserts that it succeeded. */
async function npm(args: readonly string[], cwd: string, command: 'npm' | 'npx' = 'npm'): Promise<Finished> {
  const result = await runToEnd(command, args, { cwd, env: npmEnv(), timeoutMs: 60_000 });
  assert.equal(result.code, 0, describeRun(command, args, result));
  return result;
}

async function node(args: readonly string[], cwd: string): Promise<Finished> {
  const result = await runToEnd(process.execPath, args, { cwd, timeoutMs: 30_000 });
  assert.equal(result.code, 0, describeRun('node', args, result));
  return result;
}

/** A copy of what `npm pack` reads: the package's files plus the sources and configs that build them. */
function copyPackageInputs(to: string): void {
  const inputs = new Set(['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', ...manifest.files.filter((f) => !f.startsWith('dist'))]);
  for (const input of inputs) cpSync(join(REPO_ROOT, input), join(to, input), { recursive: true });
  // The build needs typescript and the type packages; they are not part of the package.
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(to, 'node_modules'), 'dir');
}

/** The scratch project's lockfile: the tarball plus this repository's production dependencies. */
function consumerLock(tarball: string): unknown {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { kubemux: tarball } },
    'node_modules/kubemux': { version: manifest.version, resolved: tarball, dependencies: manifest.dependencies, bin: manifest.bin, engines: manifest.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== '' && entry.dev !== true) packages[path] = entry;
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/** A consumer of every entry point and of the types most programs name. */
const CONSUMER_TS = `
import { SpdySession, forward, isKubemuxError, ResilientConnection, TargetResolver, type KubemuxError, type PortForwardConnection } from 'kubemux';
import { FrameDecoder, FrameEncoder } from 'kubemux/codec';
import { FakeCluster, defaultClusterConfig } from 'kubemux/testing';

export async function check(error: unknown, connection: PortForwardConnection): Promise<string | undefined> {
  const cluster = await FakeCluster.start({ config: defaultClusterConfig() });
  const failure: KubemuxError | undefined = isKubemuxError(error) ? error : undefined;
  const rttMs: number = await connection.ping({ timeoutMs: 1000 });
  void [SpdySession, forward, ResilientConnection, TargetResolver, FrameDecoder, FrameEncoder, rttMs];
  await cluster.close();
  return failure?.code;
}
`;

/**
 * moduleResolution, the module setting it goes with, and whether the package's declarations are
 * checked too (skipLibCheck off). The declarations are the same files in every mode; checking them
 * costs most of a run (it checks @types/node as well), so that is done in the two modes whose
 * rules differ for them (ESM under node16; CommonJS without esModuleInterop under node10). The
 * other modes check resolution and the consumer's own code.
 */
const RESOLUTIONS: ReadonlyArray<{ readonly moduleResolution: string; readonly module: string; readonly checkDeclarations: boolean }> = [
  { moduleResolution: 'node16', module: 'node16', checkDeclarations: true },
  { moduleResolution: 'nodenext', module: 'nodenext', checkDeclarations: false },
  { moduleResolution: 'bundler', module: 'esnext', checkDeclarations: false },
  { moduleResolution: 'node10', module: 'commonjs', checkDeclarations: true },
];

/** Names declared right after a doc comment that says `@internal` in a source file. */
function internalNames(source: string): string[] {
  const names: string[] = [];
  const pattern = /\/\*\*((?:[^*]|\*(?!\/))*)\*\/\s*(?:export\s+)?(?:declare\s+)?(?:abstract\s+)?(?:static\s+)?(?:readonly\s+)?(?:async\s+)?(?:class|interface|function|type|const|let|get|set)?\s*([A-Za-z_$][\w$]*)/g;
  for (const match of source.matchAll(pattern)) {
    if (match[1]!.includes('@internal')) names.push(match[2]!);
  }
  return names;
}

/** Whether a declaration file declares `name` (a member, or a top-level declaration). */
function declares(dts: string, name: string): boolean {
  const escaped = name.replace(/\$/g, '\\$');
  return new RegExp(`^\\s*(?:export\\s+)?(?:declare\\s+)?(?:static\\s+)?(?:readonly\\s+)?(?:(?:class|interface|function|type|const)\\s+)?${escaped}\\s*[?(:<=]`, 'm').test(dts)
    || new RegExp(`^\\s*(?:export\\s+)?(?:declare\\s+)?(?:class|interface|function|type|const)\\s+${escaped}\\b`, 'm').test(dts);
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

test('the packed package installs without install scripts and works from ESM, CommonJS, npx and TypeScript', { timeout: 180_000 }, async (t) => {
  if (!npmAvailable()) {
    t.skip('npm is not installed: the package cannot be packed and installed here');
    return;
  }
  const dir = await tempDir(t);
  const source = join(dir, 'package');
  mkdirSync(source);
  copyPackageInputs(source);

  // Pack: prepack builds (clean, then tsc -p tsconfig.build.json).
  const packed = await npm(['pack', '--json', '--pack-destination', dir], source);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  assert.ok(files.includes('LICENSE'), 'the package carries its LICENSE');
  assert.ok(files.includes('dist/src/index.js') && files.includes('dist/src/index.d.ts'), files.join(', '));
  assert.deepEqual(files.filter((f) => f.endsWith('.map')), [], 'no source maps (their sources are not shipped)');
  assert.deepEqual(files.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/src/')), [], 'only dist/src is shipped');
  const tarball = `file:../${info!.filename}`;

  // Install into a scratch project, offline.
  const consumer = join(dir, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { kubemux: tarball } }, null, 2));
  writeFileSync(join(consumer, 'package-lock.json'), JSON.stringify(consumerLock(tarball), null, 2));
  const installed = await npm(['install', '--offline', '--no-audit', '--no-fund', join('..', info!.filename)], consumer);
  assert.doesNotMatch(`${installed.stdout}${installed.stderr}`, /install.scripts?/i, 'npm warned about install scripts');
  const published = JSON.parse(readFileSync(join(consumer, 'node_modules', 'kubemux', 'package.json'), 'utf8')) as Manifest;
  assert.deepEqual(INSTALL_SCRIPTS.filter((s) => published.scripts?.[s] !== undefined), [], 'the published package.json has no install-time scripts');

  // @internal declarations are not in the published .d.ts.
  const dist = join(consumer, 'node_modules', 'kubemux', 'dist', 'src');
  const leaked: string[] = [];
  for (const file of walk(join(REPO_ROOT, 'src'))) {
    if (!file.endsWith('.ts')) continue;
    const dtsPath = join(dist, relative(join(REPO_ROOT, 'src'), file).replace(/\.ts$/, '.d.ts'));
    if (!existsSync(dtsPath)) continue;
    const dts = readFileSync(dtsPath, 'utf8');
    for (const name of internalNames(readFileSync(file, 'utf8'))) {
      if (declares(dts, name)) leaked.push(`${relative(REPO_ROOT, file)}: ${name}`);
    }
  }
  assert.deepEqual(leaked, [], 'internal declarations in the published .d.ts');

  // ESM.
  const esm = await node(['--input-type=module', '-e', "import * as k from 'kubemux'; import * as c from 'kubemux/codec'; import * as t from 'kubemux/testing'; console.log(typeof k.SpdySession, typeof c.FrameDecoder, typeof t.FakeCluster);"], consumer);
  assert.equal(esm.stdout, 'function function function\n');
  // CommonJS: require(esm), Node >= 20.19.
  writeFileSync(join(consumer, 'require.cjs'), "const k = require('kubemux'); const t = require('kubemux/testing'); console.log(typeof k.dialPortForward, typeof t.FakeCluster);\n");
  const cjs = await node(['require.cjs'], consumer);
  assert.equal(cjs.stdout, 'function function\n');
  // The bin.
  const version = await npm(['--offline', 'kubemux', '--version'], consumer, 'npx');
  assert.equal(version.stdout, `kubemux ${manifest.version}\n`);

  // TypeScript, with the repository's compiler.
  writeFileSync(join(consumer, 'consumer.ts'), CONSUMER_TS);
  for (const { moduleResolution, module, checkDeclarations } of RESOLUTIONS) {
    const args = [TSC, '--noEmit', '--strict', '--skipLibCheck', String(!checkDeclarations), '--target', 'es2022', '--types', 'node', '--module', module, '--moduleResolution', moduleResolution, 'consumer.ts'];
    const checked = await runToEnd(process.execPath, args, { cwd: consumer, timeoutMs: 60_000 });
    assert.equal(checked.code, 0, `moduleResolution ${moduleResolution}:\n${checked.stdout}${checked.stderr}`);
  }
});
