// Parties of the E2E layer on real vaults (real SQLite files in temp directories, test Argon2
// parameters), each registered at an in-memory prekey directory; every vault is locked and every
// directory removed (after the scrub its lock started) after each test of the file that calls vaultParties().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { E2e } from '../../main/e2e/index.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import type { PreKeyDirectory } from './helpers.ts';

export const PASSWORD = 'correct horse battery staple';

export interface VaultParty {
  name: string;
  dir: string;
  vault: Vault;
  e2e: E2e;
}

export function vaultParties(prefix: string) {
  const dirs: string[] = [];
  const open: Vault[] = [];
  afterEach(async () => {
    for (const v of open.splice(0)) if (v.isUnlocked) v.lock();
    for (const d of dirs.splice(0)) {
      // A lock that owes the scrub (a used prekey, main/e2e/stores.ts) starts it in a worker: removing
      // the folder meanwhile races the worker's own files (a WAL it creates as the folder goes).
      await Vault.scrubbed(d);
      rmSync(d, { recursive: true, force: true });
    }
  });
  const tempDir = (name: string): string => {
    const dir = mkdtempSync(join(tmpdir(), `ephemera-${prefix}-${name}-`));
    dirs.push(dir);
    return dir;
  };
  /** A vault the test opened itself, locked after the test. */
  const keep = (vault: Vault): Vault => {
    open.push(vault);
    return vault;
  };
  return {
    tempDir,
    keep,
    async register(relay: PreKeyDirectory, name: string, oneTimeCount = 100): Promise<VaultParty> {
      const dir = tempDir(name);
      const { vault } = await Vault.create(dir, PASSWORD, { kdf: TEST_KDF });
      keep(vault);
      const { e2e, registration } = await E2e.register(vault, name, { oneTimeCount });
      relay.register(name, registration.identity, registration.oneTimePreKeys);
      return { name, dir, vault, e2e };
    },
    /** The party's vault unlocked again from disk (nothing carried over in memory). */
    async unlockAgain(dir: string): Promise<Vault> {
      return keep(await Vault.unlock(dir, PASSWORD));
    },
  };
}
