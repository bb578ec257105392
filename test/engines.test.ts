// package.json `engines` states the Node versions the toolchain really supports: every installed
// package (direct or not) that declares `engines.node` accepts the whole range, so `npm install`
// on a Node inside it warns about nothing but the documented Electron tooling; the README says so.
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/**
 * Electron's own tooling declares Node >= 22.12. It runs only to fetch the Electron binary on the
 * first `npm start` and for `npm run dist`; the README says to use Node 22.13+ for those.
 */
const ELECTRON_TOOLING = new Set(['electron', '@electron/get', '@electron/rebuild', 'node-abi', '@electron-internal/extract-zip']);

function installedEngines(dir: string, found: Array<{ name: string; where: string; node: string }> = []) {
  if (!fs.existsSync(dir)) return found;
  for (const entry of fs.readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const where = path.join(dir, entry);
    if (entry.startsWith('@')) {
      installedEngines(where, found);
      continue;
    }
    const manifest = path.join(where, 'package.json');
    if (fs.existsSync(manifest)) {
      const json = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string; engines?: { node?: unknown } };
      if (typeof json.engines?.node === 'string' && typeof json.name === 'string') found.push({ name: json.name, where: path.relative(ROOT, where), node: json.engines.node });
    }
    installedEngines(path.join(where, 'node_modules'), found);
  }
  return found;
}

describe('engines', () => {
  const ours = pkg.engines.node;
  const packages = installedEngines(path.join(ROOT, 'node_modules'));

  it('is a valid range that includes the Node running the tests', () => {
    expect(semver.validRange(ours)).not.toBeNull();
    expect(semver.satisfies(process.versions.node, ours), `${process.versions.node} in ${ours}`).toBe(true);
  });

  it('is within what every installed package declares, except the documented Electron tooling', () => {
    expect(packages.length).toBeGreaterThan(100);
    const narrower = packages.filter((p) => !ELECTRON_TOOLING.has(p.name) && !(semver.validRange(p.node) && semver.subset(ours, p.node)));
    expect(narrower).toEqual([]);
    // The exceptions are real (else drop them here and in the README): each excludes part of our range.
    for (const name of ELECTRON_TOOLING) {
      const declared = packages.filter((p) => p.name === name);
      expect(declared.length, name).toBeGreaterThan(0);
      expect(declared.some((p) => !semver.subset(ours, p.node)), name).toBe(true);
    }
  });

  it('is stated in the README, with the Electron tooling caveat', () => {
    expect(README).toContain(`\`${ours}\``);
    expect(README).toMatch(/Node 22\.13 or newer.*Electron/s);
  });
});
