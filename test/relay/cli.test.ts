// The relay CLI: bad arguments are refused with a message and a non-zero exit; a good start
// writes the descriptor, and a second start in the same DIR keeps the same identity and pin;
// --idempotency-memory-keys reaches the store (a bound of 0 spills the records at open), and a
// relay.db from a newer relay stops the start with both versions named.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { RELAY_DB_SCHEMA, RelayStore } from '../../relay/store.ts';
import { tempDir } from '../net/harness.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'ephemera-relay.ts');
const t = tempDir('cli');
afterAll(() => t.cleanup());

function run(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('ephemera-relay CLI', () => {
  it('refuses bad arguments', () => {
    const noData = run([]);
    expect(noData.status).not.toBe(0);
    expect(noData.stderr).toMatch(/--data/);
    const badPort = run(['--data', t.dir, '--port', 'http']);
    expect(badPort.status).not.toBe(0);
    expect(badPort.stderr).toMatch(/whole number/);
    const bigPort = run(['--data', t.dir, '--port', '70000']);
    expect(bigPort.status).not.toBe(0);
    const badTtl = run(['--data', t.dir, '--envelope-ttl', '30 days']);
    expect(badTtl.status).not.toBe(0);
    expect(badTtl.stderr).toMatch(/s, m, h or d/);
    const shortTtl = run(['--data', t.dir, '--envelope-ttl', '10s']);
    expect(shortTtl.status).not.toBe(0);
    expect(shortTtl.stderr).toMatch(/between 60s and 366d/);
    for (const bad of ['many', '-1', '1.5', '']) {
      const badKeys = run(['--data', t.dir, '--idempotency-memory-keys', bad]);
      expect(badKeys.status).not.toBe(0);
      expect(badKeys.stderr).toMatch(/--idempotency-memory-keys.*whole number/);
    }
    const hugeKeys = run(['--data', t.dir, '--idempotency-memory-keys', '9007199254740993']);
    expect(hugeKeys.status).not.toBe(0);
    expect(hugeKeys.stderr).toMatch(/must be between 0 and/);
  });

  it('keeps its identity and certificate pin across restarts', async () => {
    const port = await freePort();
    const first = await RelayProcess.start(t.dir, port);
    const d1 = JSON.parse(readFileSync(join(t.dir, 'descriptor.json'), 'utf8')) as unknown;
    await first.kill('SIGTERM');
    const second = await RelayProcess.start(t.dir, port);
    await second.kill('SIGTERM');
    expect(second.descriptor).toEqual(d1);
    expect(first.descriptor).toEqual(d1);
  });

  it('passes --idempotency-memory-keys to the store: 0 spills the records at open, the default keeps them in memory', async () => {
    const d = tempDir('cli-idem');
    try {
      const db = join(d.dir, 'relay.db');
      const store = new RelayStore(db);
      const [alice] = ['alice', 'bob'].map((h) => {
        const id = randomBytes(8);
        store.insertDevice(id, randomBytes(32), 1);
        store.register(id, h);
        return id;
      }) as [Buffer, Buffer];
      for (let i = 0; i < 3; i++) store.enqueue(alice, 'alice', 'bob', `idem-cli-${i}`, Buffer.from('x'), Date.now(), 10);
      store.close();
      const spilled = (): number[] => {
        const r = new Database(db, { readonly: true });
        try {
          return (r.prepare('SELECT spilled FROM idempotency ORDER BY id').all() as { spilled: number }[]).map((x) => x.spilled);
        } finally {
          r.close();
        }
      };
      const port = await freePort();
      const byDefault = await RelayProcess.start(d.dir, port);
      await byDefault.kill('SIGTERM');
      expect(spilled()).toEqual([0, 0, 0]);
      const none = await RelayProcess.start(d.dir, port, ['--idempotency-memory-keys', '0']);
      await none.kill('SIGTERM');
      expect(spilled()).toEqual([1, 1, 1]);
    } finally {
      d.cleanup();
    }
  });

  it('does not start on a relay.db from a newer relay', () => {
    const d = tempDir('cli-newer');
    try {
      new RelayStore(join(d.dir, 'relay.db')).close();
      const raw = new Database(join(d.dir, 'relay.db'));
      raw.pragma(`user_version = ${RELAY_DB_SCHEMA + 1}`);
      raw.close();
      const r = run(['--data', d.dir, '--port', '0']);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('SCHEMA_TOO_NEW');
      expect(r.stderr).toContain(`relay.db is schema version ${RELAY_DB_SCHEMA + 1}; this relay knows up to ${RELAY_DB_SCHEMA}`);
    } finally {
      d.cleanup();
    }
  });
});
