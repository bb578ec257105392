// Which better-sqlite3 addon the main process loads: the package's own (Node ABI) everywhere
// except Electron in development, where npm start passes the Electron-ABI build's path.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SQLITE_BINDING_ENV, sqliteNativeBinding, sqliteOptions } from '../../main/vault/sqlite-binding.ts';

const node = { ...process.versions };
const electron = { ...process.versions, electron: '41.10.7' } as NodeJS.ProcessVersions;

describe('sqlite native binding selection', () => {
  it('uses the package build under Node, whatever the environment says', () => {
    expect(sqliteNativeBinding({ [SQLITE_BINDING_ENV]: '/x/better_sqlite3.node' }, node)).toBeUndefined();
    expect(sqliteOptions({ [SQLITE_BINDING_ENV]: '/x/better_sqlite3.node' }, node)).toEqual({});
  });

  it('uses the Electron build under Electron when npm start provides one', () => {
    expect(sqliteOptions({ [SQLITE_BINDING_ENV]: '/opt/e/better_sqlite3.node' }, electron)).toEqual({ nativeBinding: '/opt/e/better_sqlite3.node' });
    // Packaged app: no variable, electron-builder rebuilt the package's own addon.
    expect(sqliteOptions({}, electron)).toEqual({});
  });

  it('refuses a relative or non-addon path', () => {
    expect(() => sqliteNativeBinding({ [SQLITE_BINDING_ENV]: 'rel/better_sqlite3.node' }, electron)).toThrow(/absolute path/);
    expect(() => sqliteNativeBinding({ [SQLITE_BINDING_ENV]: '/etc/passwd' }, electron)).toThrow(/\.node/);
  });

  it('the options it returns open a working database under Node', () => {
    const db = new Database(':memory:', sqliteOptions());
    expect(db.prepare('SELECT 41 + 1 AS n').get()).toEqual({ n: 42 });
    db.close();
  });
});
