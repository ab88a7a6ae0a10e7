/** Locations in the repository, found from the compiled test file wherever the build put it. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'kubemux') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('kubemux repository root not found above the test build');
    dir = parent;
  }
}

/** The repository root (where package.json is). */
export const REPO_ROOT = findRepoRoot();
/** spec/vectors/, the JSON test vectors. */
export const VECTORS_DIR = join(REPO_ROOT, 'spec', 'vectors');
