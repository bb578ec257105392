// Where main/net keeps what must survive a restart: the device's permanent key and the outbox
// of requests not yet accepted by the relay. Both are sealed by the vault; the in-memory
// versions are for tests and tools. Temp keys are never stored anywhere.
import type { OutboxItem, VaultHandle } from '../vault/api.ts';

export type { OutboxItem };

export interface OutboxStore {
  put(item: OutboxItem): void | Promise<void>;
  list(): OutboxItem[] | Promise<OutboxItem[]>;
  delete(id: string): void | Promise<void>;
}

export interface PermanentKeyStore {
  /** The 32-byte Ed25519 seed, or undefined before the first run. */
  load(): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  save(seed: Uint8Array): void | Promise<void>;
}

export class MemoryOutboxStore implements OutboxStore {
  private readonly items = new Map<string, OutboxItem>();
  put(item: OutboxItem): void {
    this.items.set(item.id, { ...item, body: new Uint8Array(item.body) });
  }
  list(): OutboxItem[] {
    return [...this.items.values()];
  }
  delete(id: string): void {
    this.items.delete(id);
  }
}

export class MemoryPermanentKeyStore implements PermanentKeyStore {
  private seed: Uint8Array | undefined;
  load(): Uint8Array | undefined {
    return this.seed ? new Uint8Array(this.seed) : undefined;
  }
  save(seed: Uint8Array): void {
    this.seed = new Uint8Array(seed);
  }
}

export const PERMANENT_KEY_SECRET = 'net.permanent-key';

/** Writes wait while a backup import holds the vault's long transaction (they would get VaultBusy). */
export function vaultOutboxStore(vault: VaultHandle): OutboxStore {
  const whenIdle = async (): Promise<void> => {
    while (vault.busy) await vault.idle();
  };
  return {
    put: (item) => {
      // Written at once when the vault is free, so a caller's transaction holds it: a send's
      // message, ratchet step and outbox entry are one commit (messenger/sending.ts).
      if (!vault.busy) {
        try {
          vault.outboxPut(item);
          return Promise.resolve();
        } catch (e) {
          return Promise.reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
      return whenIdle().then(() => vault.outboxPut(item));
    },
    list: () => vault.outboxList(),
    delete: async (id) => {
      await whenIdle();
      // The relay accepted it: losing this delete to a power cut only re-sends the request once,
      // which the relay answers from its idempotency record; no fsync wait for that, and no commit
      // of its own: it joins this turn's batch, with the messenger's 'sent' update of the answer.
      vault.batchedTransaction(() => vault.outboxDelete(id));
    },
  };
}

export function vaultPermanentKeyStore(vault: VaultHandle): PermanentKeyStore {
  return {
    load: () => vault.getAccountSecret(PERMANENT_KEY_SECRET),
    save: (seed) => vault.setAccountSecret(PERMANENT_KEY_SECRET, seed),
  };
}
