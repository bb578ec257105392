// Shared helpers for the vault tests: temp profile dirs, damaged copies and message factories.
import Database from 'better-sqlite3';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppendedMessage } from '../../main/vault/api.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';

/**
 * Copies of the profile at `original`, each with one damage done to its vault.db by `damage`
 * (an open better-sqlite3 handle), in new folders under `root`. Returns the copy's folder.
 */
export function damagedCopies(root: string, original: string): (damage: (db: Database.Database) => void) => string {
  let n = 0;
  return (damage) => {
    const dir = join(root, `d${n++}`);
    cpSync(original, dir, { recursive: true });
    const db = new Database(join(dir, 'vault.db'));
    try {
      damage(db);
    } finally {
      db.close();
    }
    return dir;
  };
}

export function tempProfile(): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'ephemera-vault-test-'));
  const dir = join(root, 'profile');
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

let counter = 0;
export function msg(conversationId: string, text: string, extra: Partial<AppendedMessage> = {}): AppendedMessage {
  counter += 1;
  return {
    id: `m${process.pid.toString(16)}${counter.toString(16).padStart(8, '0')}`,
    conversationId,
    direction: 'in',
    sender: 'contact-1',
    sentAt: 1_700_000_000_000 + counter,
    receivedAt: 1_700_000_000_500 + counter,
    text,
    state: 'received',
    ...extra,
  };
}

/** Every file in the profile directory with its bytes (for byte-identity checks). */
export function snapshotDir(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir).sort()) out.set(name, readFileSync(join(dir, name)));
  return out;
}

/**
 * Real vaults on disk for one describe block: `fresh()` creates one, `reopen(dir)` unlocks it
 * again; `cleanup()` (in afterEach) locks every one and removes its directory once its scrub ended.
 */
export function testVaults(password = 'correct horse'): {
  fresh(): Promise<{ vault: Vault; dir: string }>;
  reopen(dir: string): Promise<Vault>;
  cleanup(): Promise<void>;
} {
  const cleanups: (() => void | Promise<void>)[] = [];
  const lockLater = (vault: Vault): void => {
    cleanups.unshift(() => {
      if (vault.isUnlocked) vault.lock();
    });
  };
  return {
    async fresh() {
      const p = tempProfile();
      // After the locks (unshifted before it): the scrub a lock started (main/vault/scrub.ts) ends first.
      cleanups.push(async () => {
        await Vault.scrubbed(p.dir);
        p.cleanup();
      });
      const { vault } = await Vault.create(p.dir, password, { kdf: TEST_KDF });
      lockLater(vault);
      return { vault, dir: p.dir };
    },
    async reopen(dir) {
      const vault = await Vault.unlock(dir, password);
      lockLater(vault);
      return vault;
    },
    async cleanup() {
      for (const c of cleanups.splice(0)) await c();
    },
  };
}
