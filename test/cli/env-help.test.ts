// `ephemera --help` lists every environment variable the CLI reads. The source files reachable
// from cli/ephemera.ts (relative imports, followed transitively) are searched for reads:
// process.env.X, env.X, env[CONST], devEnv('X') and readSecret's envVar: 'X'. A new read that
// --help does not mention fails here.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from './run.ts';

/**
 * Read by code the CLI loads, but never because of anything a user of the CLI sets: each with
 * the reason it is not in --help.
 */
const NOT_FOR_USERS: Readonly<Record<string, string>> = {
  VITEST: 'set by the test runner; only lets test hooks be installed',
  EPHEMERA_TEST_HOOKS: "lets a test's child process install test hooks (shared/packaged.ts); never a user setting",
  EPHEMERA_SQLITE_BINDING: 'read only when running inside Electron (main/vault/sqlite-binding.ts), never under the Node CLI',
  UV_THREADPOOL_SIZE: "Node's own libuv setting; main/vault/kdf.ts reads it only to know libuv's pool size",
};

function reachableSources(entry: string): Map<string, string> {
  const seen = new Map<string, string>();
  const todo = [resolve(repoRoot, entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    seen.set(file, text);
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+\.tsx?)'/g)) {
      todo.push(resolve(dirname(file), m[1]!));
    }
    for (const m of text.matchAll(/import\(\s*'(\.{1,2}\/[^']+\.tsx?)'\s*\)/g)) todo.push(resolve(dirname(file), m[1]!));
  }
  return seen;
}

function envReads(text: string): Set<string> {
  const names = new Set<string>();
  const add = (re: RegExp) => {
    for (const m of text.matchAll(re)) names.add(m[1]!);
  };
  add(/process\.env\.([A-Z][A-Z0-9_]*)/g);
  add(/\benv\.([A-Z][A-Z0-9_]*)/g);
  add(/\bprocess\.env\[\s*'([A-Z][A-Z0-9_]*)'\s*\]/g);
  add(/\benv\[\s*'([A-Z][A-Z0-9_]*)'\s*\]/g);
  add(/\bdevEnv\(\s*'([A-Z][A-Z0-9_]*)'/g);
  add(/\benvVar:\s*'([A-Z][A-Z0-9_]*)'/g);
  // env[NAME] where NAME is a constant of the same file
  for (const m of text.matchAll(/\benv\[\s*([A-Z][A-Z0-9_]*)\s*\]/g)) {
    const def = new RegExp(`const ${m[1]}\\s*=\\s*'([A-Z][A-Z0-9_]*)'`).exec(text);
    if (def) names.add(def[1]!);
    else names.add(`<unresolved ${m[1]}>`);
  }
  return names;
}

let help = '';
beforeAll(async () => {
  const r = await runCli(['--help']);
  expect(r.code).toBe(0);
  help = r.stdout;
});

describe('ephemera --help and the environment', () => {
  it('lists every environment variable a command reads', () => {
    const files = reachableSources('cli/ephemera.ts');
    expect(files.has(join(repoRoot, 'main', 'messenger.ts'))).toBe(true);
    const read = new Map<string, string[]>();
    for (const [file, text] of files) {
      for (const name of envReads(text)) read.set(name, [...(read.get(name) ?? []), file.slice(repoRoot.length)]);
    }
    // Guards against a search that silently finds nothing.
    for (const known of ['EPHEMERA_PROFILE', 'EPHEMERA_PASSWORD', 'EPHEMERA_NEW_PASSWORD', 'EPHEMERA_BACKUP_PASSPHRASE', 'EPHEMERA_KDF', 'EPHEMERA_DEBUG']) {
      expect([...read.keys()]).toContain(known);
    }
    const environment = help.slice(help.indexOf('Environment:'));
    for (const [name, where] of read) {
      if (name in NOT_FOR_USERS) continue;
      expect(environment, `${name} (read in ${where.join(', ')}) is not in ephemera --help`).toMatch(new RegExp(`^ {2}${name}\\b`, 'm'));
    }
    // Every exception is still read somewhere (else it is stale and should go).
    for (const name of Object.keys(NOT_FOR_USERS)) expect([...read.keys()], name).toContain(name);
  });
});
