/**
 * The messenger's unlocked state as one object: it exists exactly from unlock to lock, so the
 * facade checks one thing (requireSession) instead of a field per part.
 */
import type { RelayDescriptor } from '../../shared/protocol/descriptor.ts';
import { collectGarbage } from '../collect-garbage.ts';
import type { E2e } from '../e2e/index.ts';
import type { SearchService } from '../search/service.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';

export interface AccountRecord {
  handle: string;
  descriptor: RelayDescriptor;
}

/** What registration adds; the account record is written only after the identity exists. */
export interface Registration {
  readonly account: AccountRecord;
  readonly e2e: E2e;
}

/** How a job reaches the unlocked state without holding the facade (messenger.ts makes it). */
export interface SessionAccess {
  /** The unlocked session; VAULT_LOCKED or NO_VAULT when there is none. */
  require(): UnlockedSession;
  /** The session as it is now (undefined when locked): for work that just stops then. */
  current(): UnlockedSession | undefined;
  /** The registration of the unlocked session; NOT_REGISTERED when there is none. */
  registration(): Registration;
  /** Runs fn as one vault activity (see Vault.activity); without a vault, just runs it. */
  activity<T>(fn: () => Promise<T>): Promise<T>;
}

export class UnlockedSession {
  /** Set by register, or at unlock when the profile is registered. */
  registration: Registration | undefined;
  /** Opened at unlock when registered; register opens it before the account exists. */
  connection: RelayConnection | undefined;

  constructor(
    readonly vault: Vault,
    readonly search: SearchService,
    registration: Registration | undefined,
  ) {
    this.registration = registration;
  }

  /** Stops the relay connection (first step of locking: nothing new arrives). */
  async stopConnection(): Promise<void> {
    const conn = this.connection;
    this.connection = undefined;
    if (conn) await conn.stop();
  }

  /**
   * Last step of locking, after the facade drained its queues: writes the search snapshot,
   * locks the vault (zeroing its keys), then collects garbage, because native key objects are
   * cleansed only when freed. True when the vault was unlocked.
   */
  async close(): Promise<boolean> {
    await this.stopConnection();
    try {
      // With the index's mirror, the snapshot's image is made off this thread (search/service.ts).
      if (this.vault.isUnlocked) await this.search.closeInSteps();
    } catch {
      // A snapshot that could not be written is rebuilt or replayed at the next unlock.
    }
    // The session records it kept go before the lock's garbage collection.
    this.registration?.e2e.forgetCachedSessions();
    this.registration = undefined;
    return lockVault(this.vault);
  }
}

/** Locks a vault and frees its native keys; used by close() and when an unlock fails half-way. */
export async function lockVault(vault: Vault): Promise<boolean> {
  const wasUnlocked = vault.isUnlocked;
  vault.lock();
  if (wasUnlocked) await collectGarbage();
  return wasUnlocked;
}
