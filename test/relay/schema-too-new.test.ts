// A relay.db written by a newer relay (PRAGMA user_version past RELAY_DB_SCHEMA) is refused at
// open with a typed error naming both versions, and the file is left exactly as it was.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { RELAY_DB_SCHEMA, RelaySchemaTooNew, RelayStore } from '../../relay/store.ts';
import { isError } from '../../shared/errors.ts';
import { tempDir } from '../net/harness.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.reverse()) c();
  cleanups.length = 0;
});

const digest = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('relay.db from a newer relay', () => {
  it('is refused at open (SCHEMA_TOO_NEW, both versions named) and not written', () => {
    const t = tempDir('schema-new');
    cleanups.push(t.cleanup);
    const file = join(t.dir, 'relay.db');
    const store = new RelayStore(file);
    const id = randomBytes(8);
    store.insertDevice(id, randomBytes(32), 1);
    store.register(id, 'alice');
    store.close();
    const newer = RELAY_DB_SCHEMA + 1;
    const raw = new Database(file);
    raw.pragma(`user_version = ${newer}`);
    raw.close(); // checkpoints and removes the -wal: everything is in relay.db
    const before = digest(file);
    const sizeBefore = statSync(file).size;

    let thrown: unknown;
    try {
      new RelayStore(file).close();
    } catch (e) {
      thrown = e;
    }
    expect(isError(thrown, RelaySchemaTooNew, 'SCHEMA_TOO_NEW')).toBe(true);
    const err = thrown as RelaySchemaTooNew;
    expect(err.found).toBe(newer);
    expect(err.known).toBe(RELAY_DB_SCHEMA);
    expect(err.message).toContain(`version ${newer}`);
    expect(err.message).toContain(`up to ${RELAY_DB_SCHEMA}`);

    expect(digest(file)).toBe(before);
    expect(statSync(file).size).toBe(sizeBefore);
    // Nothing waits in a -wal to be checkpointed into it later either.
    expect(existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0).toBe(0);
    const check = new Database(file, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(newer);
    check.close();
  });

  it('its own version still opens', () => {
    const t = tempDir('schema-same');
    cleanups.push(t.cleanup);
    const file = join(t.dir, 'relay.db');
    new RelayStore(file).close();
    const store = new RelayStore(file);
    expect(store.database.pragma('user_version', { simple: true })).toBe(RELAY_DB_SCHEMA);
    store.close();
  });
});
