// Sealed key-value access for the E2E layer, on top of the vault's kv namespaces.
//
// Two things beyond plain kv:
// - Per-contact records are keyed by an HMAC of the address under a random account secret, so
//   kv keys never reveal who we talk to, whatever the vault does with key columns.
// - Writes can be *staged*: during a decrypt, libsignal's store writes (session, used prekeys,
//   identity) go to an overlay and reach the vault only when the caller commits, after the
//   plaintext itself was stored. A crash in between leaves the old session, so the relay's
//   redelivery decrypts again instead of failing as a duplicate and losing the message.
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { VaultHandle } from '../vault/api.ts';

/** The part of the vault the E2E layer uses. */
export type E2eVault = Pick<VaultHandle, 'kvGet' | 'kvSet' | 'kvDelete' | 'kvKeys' | 'getAccountSecret' | 'setAccountSecret'> &
  // Optional so plain in-memory stand-ins still fit; the real vault has it (one commit, one fsync).
  Partial<Pick<VaultHandle, 'transaction' | 'relaxedTransaction' | 'batchedTransaction' | 'writeEpoch' | 'deferToBatch' | 'commitBatch' | 'oweScrub'>>;

export const NS = {
  meta: 'e2e-meta',
  session: 'e2e-session',
  identity: 'e2e-identity',
  preKey: 'e2e-prekey',
  signedPreKey: 'e2e-signed-prekey',
  kyberPreKey: 'e2e-kyber-prekey',
  kyberLastResort: 'e2e-kyber-last-resort',
  kyberLastResortUsed: 'e2e-kyber-used',
  held: 'e2e-held',
  /** Sender key chains of group members, ours included (main/e2e/sender-keys.ts). */
  senderKey: 'e2e-sender-key',
} as const;
export type Namespace = (typeof NS)[keyof typeof NS];

export const SECRET = {
  identity: 'e2e-identity-key-pair',
  addressKey: 'e2e-address-key',
} as const;

type Staged = { value: Uint8Array } | { deleted: true };

/**
 * A session record committed by a batched receive but not written yet (E2eKv.deferSessions):
 * `value` null for a deleted record; `dead` once its bytes were written or dropped and zeroed.
 */
interface Deferred {
  value: Uint8Array | null;
  parsed: object | undefined;
  /** What an earlier receive of the same batch had deferred for the key (restored if this one is undone). */
  previous: Deferred | undefined;
  dead?: true;
}

const SESSION_PREFIX = `${NS.session}\u0000`;

// Session records (written over at each message), sender key chains and held envelopes owe the
// bounded scrub when written over or deleted: the vault's kv writes report that themselves
// (main/vault/index.ts rowReplaced), for every namespace. Prekeys owe the scrub when used (stores.ts).

/** Parsed records kept (parsed()): libsignal's session records, a few KiB each. */
const MAX_PARSED = 2_000;

export class E2eKv {
  readonly vault: E2eVault;
  private staging: Map<string, Staged> | undefined;
  /**
   * What a staged operation read from the vault, by key: libsignal reads the same session and
   * identity records more than once per decrypt or encrypt, and each read opens a sealed row.
   * Lives only as long as the staging (one operation on the e2e queue), copies zeroed after.
   */
  private reads: Map<string, Uint8Array | undefined> | undefined;
  private readonly addressKeys = new LRUCache<string, string>({ max: 10_000 });
  /**
   * Records as the vault holds them, parsed (see parsed()): valid while the vault's writeEpoch
   * stays what it was when they were kept, i.e. no write since may have been rolled back.
   */
  private readonly parsedRecords = new LRUCache<string, object>({ max: MAX_PARSED });
  private parsedEpoch: number | undefined;
  /** What the staged operation wrote, parsed (null: deleted), kept on commit, dropped on discard. */
  private stagedParsed: Map<string, object | null> | undefined;
  /**
   * Session records committed by receives of the vault's open batch, written once when the batch
   * commits (deferSessions): a contact's record changes with every message, and was sealed and
   * written for each. Reads see them first; they hold session secrets, zeroed once written.
   */
  private readonly deferred = new Map<string, Deferred>();

  constructor(vault: E2eVault) {
    this.vault = vault;
  }

  /**
   * libsignal turns an exception thrown by a store callback into its own generic error, which
   * would look like a bad message (acked, dropped). Failures of the vault itself (locked,
   * corrupt, disk) are therefore recorded here and rethrown as they were (see E2e.signal).
   */
  private failure: unknown;

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      this.failure ??= error;
      throw error;
    }
  }

  /** Records an error that must reach the caller unchanged even when thrown inside libsignal. */
  fail(error: unknown): never {
    this.failure ??= error;
    throw error;
  }

  /** Returns and clears the first failure recorded since the last call. */
  takeFailure(): unknown {
    const f = this.failure;
    this.failure = undefined;
    return f;
  }

  secret(name: string): Uint8Array | undefined {
    return this.guard(() => this.vault.getAccountSecret(name));
  }

  get(ns: Namespace, key: string): Uint8Array | undefined {
    const k = stagingKey(ns, key);
    const staged = this.staging?.get(k);
    if (staged) return 'value' in staged ? staged.value.slice() : undefined;
    const deferred = this.deferred.get(k);
    if (deferred) return deferred.value?.slice();
    const reads = this.reads;
    if (reads?.has(k)) return reads.get(k)?.slice();
    const value = this.guard(() => this.vault.kvGet(ns, key));
    reads?.set(k, value?.slice());
    return value;
  }

  /** Counts writes to identity records (staged ones included, kept or not, and again when dropped): a change of it means one may have changed. */
  identityWrites = 0;

  set(ns: Namespace, key: string, value: Uint8Array): void {
    if (ns === NS.identity) this.identityWrites++;
    this.forgetParsed(stagingKey(ns, key));
    if (this.staging) this.staging.set(stagingKey(ns, key), { value: value.slice() });
    else {
      this.supersedeDeferred(stagingKey(ns, key));
      this.guard(() => this.vault.kvSet(ns, key, value));
    }
  }

  delete(ns: Namespace, key: string): void {
    if (ns === NS.identity) this.identityWrites++;
    const k = stagingKey(ns, key);
    this.forgetParsed(k);
    if (this.staging) {
      this.staging.set(k, { deleted: true });
      this.stagedParsed?.set(k, null);
    } else {
      this.supersedeDeferred(k);
      this.guard(() => this.vault.kvDelete(ns, key));
    }
  }

  /**
   * The record under ns/key parsed by `parse` (given bytes it may keep; they are zeroed after),
   * or undefined. A parsed record is kept and handed out again, not read and parsed once more per
   * use: libsignal loads a contact's session record several times per message (a send checks for
   * it, then encrypts; a receive loads it), and each load was a sealed row opened and
   * deserialized. Kept only with a vault that reports its writeEpoch; the caller must not change
   * what it gets. See setParsed for writing.
   */
  parsed<T extends object>(ns: Namespace, key: string, parse: (bytes: Uint8Array) => T): T | undefined {
    const k = stagingKey(ns, key);
    const stagedObject = this.stagedParsed?.get(k);
    if (stagedObject !== undefined) return (stagedObject ?? undefined) as T | undefined;
    const deferred = this.staging?.has(k) ? undefined : this.deferred.get(k);
    if (deferred) {
      if (!deferred.value) return undefined;
      if (!deferred.parsed) {
        const raw = deferred.value.slice();
        try {
          deferred.parsed = parse(raw);
        } finally {
          raw.fill(0);
        }
      }
      return deferred.parsed as T;
    }
    const cacheable = this.checkParsedEpoch() && !this.staging?.has(k);
    const cached = cacheable ? this.parsedRecords.get(k) : undefined;
    if (cached) return cached as T;
    const raw = this.get(ns, key);
    if (!raw) return undefined;
    let value: T;
    try {
      value = parse(raw);
    } finally {
      raw.fill(0);
    }
    if (cacheable) this.parsedRecords.set(k, value);
    return value;
  }

  /** set() with the parsed form of `value` kept for parsed() (once committed, when staged). */
  setParsed(ns: Namespace, key: string, value: Uint8Array, parsed: object): void {
    this.set(ns, key, value);
    const k = stagingKey(ns, key);
    if (this.stagedParsed) this.stagedParsed.set(k, parsed);
    else if (this.checkParsedEpoch()) this.parsedRecords.set(k, parsed);
  }

  /** False when the vault cannot tell whether a write was undone (then nothing is kept); drops what was kept when one may have been. */
  private checkParsedEpoch(): boolean {
    const epoch = this.vault.writeEpoch?.();
    if (epoch === undefined) return false;
    if (epoch !== this.parsedEpoch) {
      this.parsedRecords.clear();
      this.parsedEpoch = epoch;
    }
    return true;
  }

  /** Drops every parsed record kept (at lock: they hold session secrets in libsignal's native objects). */
  forgetParsedRecords(): void {
    try {
      // Deferred session records are written with their batch first (they are committed state).
      this.vault.commitBatch?.();
    } catch {
      // rolled back: the batch's hooks dropped them
    }
    this.parsedRecords.clear();
    this.stagedParsed?.clear();
  }

  private forgetParsed(k: string): void {
    this.stagedParsed?.delete(k);
    this.parsedRecords.delete(k);
  }

  /** Writes that must survive even when the staged operation is discarded (pending identities, held envelopes). */
  setDurable(ns: Namespace, key: string, value: Uint8Array): void {
    if (ns === NS.identity) this.identityWrites++;
    this.forgetParsed(stagingKey(ns, key));
    this.supersedeDeferred(stagingKey(ns, key));
    this.staging?.delete(stagingKey(ns, key));
    this.forgetRead(stagingKey(ns, key));
    this.guard(() => this.vault.kvSet(ns, key, value));
  }

  keys(ns: Namespace): string[] {
    const keys = new Set(this.guard(() => this.vault.kvKeys(ns)));
    for (const [k, d] of this.deferred) {
      const [dns, dkey] = splitStagingKey(k);
      if (dns !== ns) continue;
      if (d.value) keys.add(dkey);
      else keys.delete(dkey);
    }
    if (this.staging) {
      for (const [k, v] of this.staging) {
        const [sns, skey] = splitStagingKey(k);
        if (sns !== ns) continue;
        if ('value' in v) keys.add(skey);
        else keys.delete(skey);
      }
    }
    return [...keys];
  }

  /** Runs fn with writes staged. Returns its result, a commit that flushes them to the vault, and a discard. */
  async staged<T>(fn: () => Promise<T>): Promise<{ result: T; commit: () => void; discard: () => void }> {
    if (this.staging) throw new Error('E2eKv: nested staging');
    const staging = new Map<string, Staged>();
    this.staging = staging;
    const reads = new Map<string, Uint8Array | undefined>();
    this.reads = reads;
    const stagedParsed = new Map<string, object | null>();
    this.stagedParsed = stagedParsed;
    let result: T;
    try {
      result = await fn();
    } catch (error) {
      this.dropStaged(staging);
      throw error;
    } finally {
      this.staging = undefined;
      this.reads = undefined;
      this.stagedParsed = undefined;
      for (const v of reads.values()) v?.fill(0);
    }
    const commit = (): void => {
      // Session records wait for the batch's commit, where the vault has one (deferSessions).
      this.deferSessions(staging, stagedParsed);
      // The writes first; the parsed records are kept only once all of them reached the vault
      // (a rollback after this moves the vault's writeEpoch, which drops them).
      flush(this.vault, staging);
      if (!this.checkParsedEpoch()) return;
      for (const [k, v] of stagedParsed) {
        if (v) this.parsedRecords.set(k, v);
        else this.parsedRecords.delete(k);
      }
    };
    return { result, commit, discard: () => this.dropStaged(staging) };
  }

  /**
   * Inside a batched vault transaction (a receive in a catch-up), moves the staged session
   * records out of `staging` into `deferred`: the vault writes each once, just before the batch
   * commits (vault.deferToBatch), in the same transaction as the messages they decrypted, so the
   * order "stored, committed, then acknowledged" holds as before. A batch with several messages
   * from one contact writes that contact's record once instead of once per message. If this
   * receive's step or the batch is undone, the record deferred before it is restored (or none).
   */
  private deferSessions(staging: Map<string, Staged>, stagedParsed: Map<string, object | null>): void {
    if (!this.vault.deferToBatch) return;
    const sessions = [...staging.keys()].filter((k) => k.startsWith(SESSION_PREFIX));
    if (sessions.length === 0) return;
    const mine = new Map<string, Deferred>();
    const hook = {
      flush: () => this.flushDeferred(mine),
      drop: () => this.restoreDeferred(mine),
    };
    if (!this.vault.deferToBatch(hook)) return;
    for (const k of sessions) {
      const staged = staging.get(k) as Staged;
      const d: Deferred = { value: 'value' in staged ? staged.value : null, parsed: stagedParsed.get(k) ?? undefined, previous: this.deferred.get(k) };
      this.deferred.set(k, d);
      mine.set(k, d);
      // Its bytes now belong to `deferred` (zeroed when written or dropped).
      staging.delete(k);
      stagedParsed.delete(k);
    }
  }

  /** Writes the newest deferred record of each of `mine`'s keys (once: later commits of the batch find it gone), zeroing all it replaced. */
  private flushDeferred(mine: Map<string, Deferred>): void {
    for (const k of mine.keys()) {
      const d = this.deferred.get(k);
      if (!d) continue; // written already by an earlier commit's flush
      this.deferred.delete(k);
      const [ns, key] = splitStagingKey(k);
      try {
        if (d.value) this.vault.kvSet(ns, key, d.value);
        else this.vault.kvDelete(ns, key);
      } finally {
        const parsed = d.value ? d.parsed : null;
        killChain(d);
        // Kept parsed as the vault now holds it (a failed commit moves writeEpoch, which drops it).
        if (this.checkParsedEpoch()) {
          if (parsed) this.parsedRecords.set(k, parsed);
          else this.parsedRecords.delete(k);
        }
      }
    }
  }

  /** This commit's deferral is undone (its step or its batch): each key gets back what was deferred before it, if that is still pending. */
  private restoreDeferred(mine: Map<string, Deferred>): void {
    for (const [k, d] of mine) {
      if (this.deferred.get(k) === d) {
        this.parsedRecords.delete(k);
        if (d.previous && !d.previous.dead) this.deferred.set(k, d.previous);
        else this.deferred.delete(k);
      }
      kill(d);
    }
  }

  /** A direct write of `k` replaces what a batched receive deferred for it. */
  private supersedeDeferred(k: string): void {
    const d = this.deferred.get(k);
    if (!d) return;
    this.deferred.delete(k);
    killChain(d);
  }

  /** Discards staged writes; a dropped identity write counts as one more, so what was read while it was staged is not trusted after. */
  private dropStaged(staging: Map<string, Staged>): void {
    const prefix = stagingKey(NS.identity, '');
    for (const k of staging.keys()) {
      if (k.startsWith(prefix)) {
        this.identityWrites++;
        break;
      }
    }
    discard(staging);
  }

  private forgetRead(k: string): void {
    this.reads?.get(k)?.fill(0);
    this.reads?.delete(k);
  }

  /** Opaque, stable kv key for a contact address (hex HMAC-SHA-256, 128 bits). */
  addressKey(address: string): string {
    const cached = this.addressKeys.get(address);
    if (cached !== undefined) return cached;
    let secret = this.secret(SECRET.addressKey);
    if (!secret) {
      const fresh = new Uint8Array(randomBytes(32));
      this.guard(() => this.vault.setAccountSecret(SECRET.addressKey, fresh));
      secret = fresh;
    }
    const mac = createHmac('sha256', secret).update(address, 'utf8').digest();
    secret.fill(0);
    const key = mac.subarray(0, 16).toString('hex');
    // Outputs only (never the secret), bounded: they are kv keys, not keys to anything.
    this.addressKeys.set(address, key);
    return key;
  }
}

function stagingKey(ns: string, key: string): string {
  return `${ns}\u0000${key}`;
}

function splitStagingKey(k: string): [string, string] {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
}

// Order matters for a vault without transactions: new session and identity state first,
// deletions (used one-time prekeys) last. A crash in the middle then leaves a prekey that is
// merely unused, never a session that still needs a prekey we already deleted. With the real
// vault, E2e.receive runs this inside the store's transaction, so it is all or nothing anyway.
function flush(vault: E2eVault, staging: Map<string, Staged>): void {
  const deletes: string[] = [];
  for (const [k, v] of staging) {
    const [ns, key] = splitStagingKey(k);
    if ('value' in v) vault.kvSet(ns, key, v.value);
    else deletes.push(k);
  }
  for (const k of deletes) {
    const [ns, key] = splitStagingKey(k);
    vault.kvDelete(ns, key);
  }
  discard(staging);
}

/** Zeroes a deferred record's bytes and marks it so it is never restored. */
function kill(d: Deferred): void {
  d.value?.fill(0);
  d.dead = true;
  d.previous = undefined;
}

/** kill() for a record and every one it replaced. */
function killChain(d: Deferred): void {
  for (let x: Deferred | undefined = d; x; ) {
    const next: Deferred | undefined = x.previous;
    kill(x);
    x = next;
  }
}

/** Staged values are serialized session / prekey records: zero them once done. */
function discard(staging: Map<string, Staged>): void {
  for (const v of staging.values()) if ('value' in v) v.value.fill(0);
  staging.clear();
}
