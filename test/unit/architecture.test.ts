/**
 * The dependency direction of the layers (codec <- session <- transport <- ... <- cli, the server
 * a peer beside them), checked by reading every import in src/: a new import that crosses a layer
 * the wrong way, or a new third-party dependency in a layer, fails here. Also: no cycles between
 * folders. The table is the one in README "Layout".
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../support/paths.js';

const SRC = join(REPO_ROOT, 'src');

/** The layer of a file: its first folder under src/, or its file name for top-level files. */
function layerOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.split('/')[0]! : rel.replace(/\.ts$/, '');
}

/** What each layer may import: other layers, and packages (node:* builtins listed per layer). */
const ALLOWED: Record<string, { layers: string[]; packages: string[] }> = {
  errors: { layers: [], packages: [] },
  // Small helpers several layers share (the byte splice, validation); below everything but errors.
  util: { layers: ['errors'], packages: ['node:stream', 'node:timers', 'node:perf_hooks'] },
  spdy: { layers: ['errors', 'util'], packages: ['node:buffer', 'pako'] },
  // The Kubernetes WebSocket channel codecs (subprotocol names, v4 channel messages); no I/O.
  channel: { layers: ['errors', 'util'], packages: ['node:buffer'] },
  session: { layers: ['errors', 'spdy', 'util'], packages: ['node:stream', 'node:perf_hooks', 'eventemitter3'] },
  transport: {
    layers: ['errors', 'spdy', 'channel', 'session', 'util'],
    packages: ['node:stream', 'node:net', 'node:tls', 'node:http', 'node:https', 'node:crypto', 'node:buffer', 'node:fs', 'node:fs/promises', 'node:path', 'node:os', 'node:util', 'node:url', 'node:events', 'node:timers', 'node:dns', 'ws', 'eventemitter3', '@kubernetes/client-node'],
  },
  // Keeps a live connection per target: liveness, replacement, re-dialing, target resolution.
  resilience: {
    layers: ['errors', 'util', 'session', 'transport'],
    packages: ['node:stream', 'node:timers', 'node:crypto', 'eventemitter3'],
  },
  // Local sockets onto stream pairs.
  forwarder: {
    layers: ['errors', 'util', 'transport', 'resilience'],
    packages: ['node:stream', 'node:net', 'node:timers', 'node:events', 'eventemitter3'],
  },
  server: {
    layers: ['errors', 'spdy', 'channel', 'session', 'transport', 'util'],
    packages: ['node:stream', 'node:net', 'node:tls', 'node:http', 'node:https', 'node:crypto', 'node:buffer', 'node:fs', 'node:fs/promises', 'node:path', 'node:url', 'node:events', 'node:util', 'eventemitter3'],
  },
  index: { layers: ['errors', 'session', 'transport', 'spdy', 'channel', 'util', 'resilience', 'forwarder'], packages: [] },
  codec: { layers: ['errors', 'spdy', 'channel'], packages: [] },
  testing: { layers: ['server'], packages: [] },
  cli: { layers: ['index', 'testing'], packages: ['node:fs', 'node:fs/promises', 'node:util', 'node:path', 'node:url', 'node:process', 'node:stream', 'node:child_process', 'node:http', 'node:net', 'node:os', 'node:events'] },
};

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/g)) specifiers.push(match[1]!);
  for (const match of text.matchAll(/import\(\s*'([^']+)'\s*\)/g)) specifiers.push(match[1]!);
  for (const match of text.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g)) specifiers.push(match[1]!);
  return specifiers;
}

test('every import in src/ follows the layer table', () => {
  const violations: string[] = [];
  const edges = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    const allowed = ALLOWED[from];
    assert.ok(allowed, `no layer rule for ${relative(REPO_ROOT, file)} (layer "${from}"): add it to the table`);
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
        const to = layerOf(target);
        if (to === from) continue;
        if (!edges.has(from)) edges.set(from, new Set());
        edges.get(from)!.add(to);
        if (!allowed.layers.includes(to)) violations.push(`${relative(REPO_ROOT, file)} imports ${specifier} (layer ${from} -> ${to})`);
      } else if (!allowed.packages.includes(specifier)) {
        violations.push(`${relative(REPO_ROOT, file)} imports package ${specifier} (not allowed in layer ${from})`);
      }
    }
  }
  assert.deepEqual(violations, []);

  // No cycles between layers (depth-first search over the layer graph).
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (layer: string, path: string[]): void => {
    if (state.get(layer) === 'done') return;
    assert.notEqual(state.get(layer), 'visiting', `import cycle: ${[...path, layer].join(' -> ')}`);
    state.set(layer, 'visiting');
    for (const next of edges.get(layer) ?? []) visit(next, [...path, layer]);
    state.set(layer, 'done');
  };
  for (const layer of edges.keys()) visit(layer, []);
});
