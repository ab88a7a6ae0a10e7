/**
 * Every code sample in README.md runs as written, against `kubemux fake-cluster`.
 *
 * What counts as a sample: each fenced block opened with ```ts or ```sh (```bash too). Other
 * fences (```json, plain ```) are prose. A block is not run when the line right before it is
 *
 *     <!-- not-run: the reason -->
 *
 * (for commands that need the registry or take minutes); it is then reported as a skipped test
 * with that reason, so the count of samples not run shows in every test run.
 *
 * How a sample runs (one test per sample, named after its line in README.md):
 * - A fake cluster is started for it with the real CLI, `kubemux fake-cluster --kubeconfig-out`
 *   and the default config (pod, deployment and service `demo` in namespace `default`; context
 *   `kubemux-fake-cluster`); it is stopped afterwards.
 * - Environment: KUBECONFIG is that cluster's kubeconfig, HOME an empty folder (nothing of the
 *   user's leaks in), PATH starts with node_modules/.bin, and the working directory is a fresh
 *   project that has kubemux installed (node_modules/kubemux and node_modules/.bin/kubemux link
 *   to this repository), so `npx kubemux` is this repository's; the sample may write there.
 * - ```ts: all samples are type-checked together first (strict, moduleResolution nodenext, as an
 *   application using the package would be), then each runs as an ES module with node: `kubemux`,
 *   `kubemux/codec` and `kubemux/testing` resolve to this repository's build through a
 *   node_modules/kubemux link (the package's own exports). A top-level await is fine.
 * - ```sh: run with `bash -e -o pipefail`.
 * - A sample must exit by itself with code 0 within 60 s, and leave nothing running: it runs in a
 *   process group of its own, which must be empty when it exits (a shell sample stops what it
 *   started in the background: `kill %1 %2; wait`). On a time-out the group is killed.
 * - A shell sample that uses kubectl, curl or python3 is skipped, saying so, where that command is
 *   not installed.
 *
 * Writing a runnable sample: complete (every name defined or imported), only names that exist
 * in the fake cluster, waits for ready lines instead of racing (a ```sh sample reads a
 * background command's output from a file: `until grep -qs '^Forwarding from' forward.log; do
 * sleep 0.1; done`), closes what it opens, and uses ports nothing else uses: 18080 for the pod's
 * server (with the default config a pod's port P is 127.0.0.1:P), 18090 to 19000 locally (never
 * 8080, where kubectl without a kubeconfig looks).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { KUBEMUX_BIN } from '../support/cli.js';
import { tempDir } from '../support/kube-fixtures.js';
import { REPO_ROOT } from '../support/paths.js';
import { runToEnd, startProcess } from '../support/processes.js';

/** A fenced sample in README.md. */
interface Sample {
  readonly language: 'ts' | 'sh';
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly code: string;
  /** Set when the block is marked `<!-- not-run: reason -->`. */
  readonly notRun: string | undefined;
}

const README = join(REPO_ROOT, 'README.md');
const SAMPLE_TIMEOUT_MS = 60_000;
const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** Commands a shell sample may need that are not part of this repository. */
const TOOLS = ['kubectl', 'curl', 'python3'];

/** The ```ts and ```sh blocks of `markdown`, in order. */
function extractSamples(markdown: string): Sample[] {
  const samples: Sample[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript|sh|bash)\s*$/.exec(lines[i]!);
    if (open === null) {
      if (/^```/.test(lines[i]!)) {
        // Skip another fence's body, so a ``` inside it is not taken for an opening.
        for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++);
      }
      continue;
    }
    let previous = i - 1;
    while (previous >= 0 && lines[previous]!.trim() === '') previous--;
    const marker = previous >= 0 ? /^<!--\s*not-run:\s*(.+?)\s*-->$/.exec(lines[previous]!.trim()) : null;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    assert.ok(i < lines.length, `README.md:${start + 1}: the block is never closed`);
    samples.push({ language: open[1] === 'ts' || open[1] === 'typescript' ? 'ts' : 'sh', line: start + 1, code: `${body.join('\n')}\n`, notRun: marker?.[1] });
  }
  return samples;
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** The environment of a sample: see the file comment. */
function sampleEnv(home: string, kubeconfig: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, KUBECONFIG: kubeconfig, PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}${delimiter}${process.env['PATH'] ?? ''}` };
  // A node:test child would report to this runner instead of running its own tests.
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

/** Whether any process of group `pgid` is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What is still running in group `pgid`, for the failure message. */
function groupMembers(pgid: number): string {
  return spawnSync('ps', ['-o', 'pid=,args=', '-g', String(pgid)], { encoding: 'utf8' }).stdout.trim();
}

/** Runs one sample's command in its own process group, under the time bound; see the file comment. */
async function runSample(t: TestContext, command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  const sample = startProcess(command, args, { cwd, env, detached: true });
  const pgid = sample.child.pid!;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), SAMPLE_TIMEOUT_MS)));
  // The sample's own exit, not its pipes' close: a process it left behind may hold them open.
  const exited = new Promise<{ code: number | null }>((resolve) => sample.child.once('exit', (code) => resolve({ code })));
  const outcome = await Promise.race([exited, deadline]);
  clearTimeout(timer);
  const left = groupAlive(pgid) ? groupMembers(pgid) : '';
  if (left !== '' || outcome === 'timeout') {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Gone in the meantime.
    }
  }
  await sample.finished;
  const { stdout, stderr } = sample.output();
  t.diagnostic(`stdout:\n${stdout}`);
  if (stderr !== '') t.diagnostic(`stderr:\n${stderr}`);
  assert.notEqual(outcome, 'timeout', `did not exit within ${SAMPLE_TIMEOUT_MS} ms (something left open?)\n--- stdout\n${stdout}--- stderr\n${stderr}`);
  assert.equal(left, '', `left processes running:\n${left}`);
  assert.equal((outcome as { code: number | null }).code, 0, `exit code ${(outcome as { code: number | null }).code}\n--- stdout\n${stdout}--- stderr\n${stderr}`);
}

const samples = extractSamples(readFileSync(README, 'utf8'));

describe('README.md samples', () => {
  let work: string;
  /** Type errors per ts sample line, from one tsc run over all of them. */
  const typeErrors = new Map<number, string>();

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'kubemux-readme-'));
    // Compiled samples live in work/ts, where `kubemux` is this repository.
    const ts = join(work, 'ts');
    mkdirSync(join(ts, 'node_modules'), { recursive: true });
    symlinkSync(REPO_ROOT, join(ts, 'node_modules', 'kubemux'), 'dir');
    writeFileSync(join(ts, 'package.json'), JSON.stringify({ name: 'readme-samples', private: true, type: 'module' }));
    const runnable = samples.filter((s) => s.language === 'ts' && s.notRun === undefined);
    for (const s of runnable) writeFileSync(join(ts, `line-${s.line}.mts`), s.code);
    writeFileSync(
      join(ts, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules', '@types')], skipLibCheck: true, outDir: 'out', rootDir: '.' },
        include: ['*.mts'],
      }),
    );
    if (runnable.length === 0) return;
    const compiled = await runToEnd(process.execPath, [TSC, '-p', ts], { cwd: ts, timeoutMs: 120_000 });
    for (const message of `${compiled.stdout}${compiled.stderr}`.split(/\n(?=line-\d+\.mts)/)) {
      const match = /^line-(\d+)\.mts\((\d+),(\d+)\): (.*)/s.exec(message.trim());
      if (match === null) continue;
      const line = Number(match[1]) + Number(match[2]);
      typeErrors.set(Number(match[1]), `${typeErrors.get(Number(match[1])) ?? ''}README.md:${line}:${match[3]}: ${match[4]!.trim()}\n`);
    }
    assert.ok(compiled.code === 0 || typeErrors.size > 0, `tsc failed:\n${compiled.stdout}${compiled.stderr}`);
  });

  after(() => {
    rmSync(work, { recursive: true, force: true });
    const notRun = samples.filter((s) => s.notRun !== undefined);
    // A summary line in the test output: how many samples ran and which did not.
    console.log(`README.md: ${samples.length} samples, ${samples.length - notRun.length} run, ${notRun.length} not run (${notRun.map((s) => `line ${s.line}: ${s.notRun}`).join('; ')})`);
  });

  for (const sample of samples) {
    const name = `README.md:${sample.line} (${sample.language}) ${sample.code.split('\n').find((l) => l.trim() !== '' && !l.startsWith('import'))?.trim().slice(0, 60) ?? ''}`;
    test(name, { timeout: SAMPLE_TIMEOUT_MS + 30_000 }, async (t) => {
      if (sample.notRun !== undefined) {
        t.skip(`not run: ${sample.notRun}`);
        return;
      }
      const missing = sample.language === 'sh' ? TOOLS.filter((tool) => new RegExp(`\\b${tool}\\b`).test(sample.code) && !onPath(tool)) : [];
      if (missing.length > 0) {
        t.skip(`needs ${missing.join(', ')}, not installed here`);
        return;
      }
      const errors = typeErrors.get(sample.line);
      assert.equal(errors, undefined, `type errors:\n${errors}`);

      const dir = await tempDir(t);
      const home = join(dir, 'home');
      mkdirSync(home);
      // The working directory is a project that has kubemux installed: `npx kubemux` finds it.
      const cwd = join(dir, 'project');
      mkdirSync(join(cwd, 'node_modules', '.bin'), { recursive: true });
      writeFileSync(join(cwd, 'package.json'), JSON.stringify({ name: 'readme-sample', private: true, type: 'module' }));
      symlinkSync(REPO_ROOT, join(cwd, 'node_modules', 'kubemux'), 'dir');
      symlinkSync(KUBEMUX_BIN, join(cwd, 'node_modules', '.bin', 'kubemux'));
      const kubeconfig = join(dir, 'kubeconfig');
      const cluster = startProcess(process.execPath, [KUBEMUX_BIN, 'fake-cluster', '--kubeconfig-out', kubeconfig]);
      t.after(async () => {
        const stopped = await cluster.stop('SIGTERM');
        assert.equal(stopped.code, 0, `the fake cluster exited with ${stopped.code}: ${stopped.stderr}`);
      });
      await cluster.line(/^kubeconfig written to /, 20_000);

      const env = sampleEnv(home, kubeconfig);
      if (sample.language === 'ts') await runSample(t, process.execPath, [join(work, 'ts', 'out', `line-${sample.line}.mjs`)], cwd, env);
      else {
        const script = join(dir, 'sample.sh');
        writeFileSync(script, sample.code);
        await runSample(t, 'bash', ['-e', '-o', 'pipefail', script], cwd, env);
      }
    });
  }
});
