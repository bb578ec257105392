// No import cycle anywhere in the tree: the same files and tool as `npm run cycles` (part of
// `npm run lint`), whose globs this reads from package.json so the two cannot drift apart.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseCircular, parseDependencyTree } from 'dpdm';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

function lintGlobs(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts.cycles ?? '';
  return [...script.matchAll(/'([^']+)'/g)].map((m) => m[1] as string);
}

async function cyclesIn(dir: string, globs: string[]): Promise<string[][]> {
  const tree = await parseDependencyTree(globs, { cwd: dir, context: dir, transform: false, skipDynamicImports: false });
  return parseCircular(tree);
}

describe('import cycles', () => {
  const probeDir = mkdtempSync(path.join(tmpdir(), 'ephemera-cycles-'));
  afterAll(() => rmSync(probeDir, { recursive: true, force: true }));

  it('the check sees a cycle made of .ts imports, type-only ones included', async () => {
    writeFileSync(path.join(probeDir, 'a.ts'), "import type { B } from './b.ts';\nexport type A = { b?: B };\n");
    writeFileSync(path.join(probeDir, 'b.ts'), "import { type A } from './a.ts';\nexport type B = { a?: A };\n");
    expect(await cyclesIn(probeDir, ['*.ts'])).toHaveLength(1);
  });

  it('none in main, relay, shared, cli, renderer, tests, benchmarks or scripts', async () => {
    const globs = lintGlobs();
    expect(globs).toEqual(expect.arrayContaining(['main/**/*.ts', 'relay/**/*.ts', 'shared/**/*.ts']));
    expect(await cyclesIn(root, globs)).toEqual([]);
  });
});
