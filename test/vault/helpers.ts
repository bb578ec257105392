// Shared helpers for the vault tests: temp profile dirs and message factories.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NewMessage } from '../../main/vault/api.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';

export function tempProfile(): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'ephemera-vault-test-'));
  const dir = join(root, 'profile');
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

let counter = 0;
export function msg(conversationId: string, text: string, extra: Partial<NewMessage> = {}): NewMessage {
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
 * again; `cleanup()` (in afterEach) locks every one and removes its directory.
 */
export function testVaults(password = 'correct horse'): {
  fresh(): Promise<{ vault: Vault; dir: string }>;
  reopen(dir: string): Promise<Vault>;
  cleanup(): void;
} {
  const cleanups: (() => void)[] = [];
  const lockLater = (vault: Vault): void => {
    cleanups.unshift(() => {
      if (vault.isUnlocked) vault.lock();
    });
  };
  return {
    async fresh() {
      const p = tempProfile();
      cleanups.push(p.cleanup);
      const { vault } = await Vault.create(p.dir, password, { kdf: TEST_KDF });
      lockLater(vault);
      return { vault, dir: p.dir };
    },
    async reopen(dir) {
      const vault = await Vault.unlock(dir, password);
      lockLater(vault);
      return vault;
    },
    cleanup() {
      for (const c of cleanups.splice(0)) c();
    },
  };
}
