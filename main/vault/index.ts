// The vault: history at rest. See docs/vault.md for the file layout, key hierarchy, sealing
// construction and the performance design.
import type Database from 'better-sqlite3';
import { randomBytes, randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '../../shared/private-files.ts';
import type {
  ChangeBatch,
  ContactRecord,
  ConversationRecord,
  MessageState,
  NewMessage,
  OutboxItem,
  PageQuery,
  SealedFiles,
  StoredMessage,
  VaultHandle,
} from './api.ts';
import { BatchOpener, BatchSealer, SealOpenError, seal } from './aead.ts';
import { NoVault, VaultBusy, VaultCorrupt, VaultExists, VaultLocked, WrongPassword, WrongRecoveryPhrase } from './errors.ts';
import { freshKdf, recoveryPhraseOpens, rewrapPassword, VaultKeys, type SubkeyName } from './keys.ts';
import { DB_FILE, headerFromCopy, mapError, openDatabase, removeDatabaseFiles, storeRecoveryCopy } from './open.ts';
import { HEADER_FILE, HEADER_FORMAT, readHeader, unwrapWithPassword, unwrapWithRecovery, wrapWithPassword, wrapWithRecovery, writeHeader, type VaultHeader } from './header.ts';
import { checkKdfParams, checkNewPassword, DEFAULT_KDF, deriveRecoveryKey, derivePasswordKey, newRecoveryPhrase, phraseEntropy, SALT_BYTES, TEST_KDF, type KdfParams } from './kdf.ts';
import { liveLockOwner, ProfileLock } from './lockfile.ts';
import {
  ad,
  checkContact,
  checkConversation,
  checkId,
  checkNewMessage,
  checkState,
  checkTimestamp,
  decodeContact,
  decodeConversation,
  decodeKeyed,
  decodeSegment,
  encodeContact,
  encodeConversation,
  encodeKeyed,
  encodeSegment,
  segmentEntry,
  type MessageBody,
  type SegmentEntry,
} from './records.ts';
import { blobColumn, integerColumn } from './integrity.ts';
import { headerMissingMessage, probeRecoveryCopy } from './recovery-copy.ts';
import { SealedFileStore } from './sealed-files.ts';
import { keyBuffer } from '../../shared/protocol/secret-bytes.ts';

export { DEFAULT_KDF, TEST_KDF, type KdfParams };
export { KDF_LIMITS } from './kdf.ts';

export { DB_FILE };
const MAX_PAGE = 10_000;
/** Rows per query when streaming the whole history (iterateMessages): ~32 segments per query. */
const ITERATE_CHUNK = 2048;

interface MessageRow {
  id: string;
  conversation_id: string;
  order_key: number;
  seq: number;
  segment: number;
  slot: number;
  state_sealed: Buffer | null;
}

/** id, order_key, seq, segment, slot, state sealed (iterateMessages). */
type ChunkRow = [string, number, number, number, number, Buffer | null];

const MESSAGE_COLUMNS =
  'm.id, m.conversation_id, m.order_key, m.seq, m.segment, m.slot, s.sealed AS state_sealed FROM messages m LEFT JOIN message_state s ON s.message_id = m.id';

// A segment closes at this many messages or (approximate) plaintext bytes, so reading a page or
// re-sealing after a delete touches a bounded amount of data.
const SEGMENT_MAX_MESSAGES = 64;
const SEGMENT_MAX_BYTES = 64 * 1024;

interface PendingSegment {
  id: number;
  conversationId: string;
  entries: SegmentEntry[];
  bytes: number;
}

function segmentAd(segment: number, conversationId: string): Buffer {
  return ad('message_segments', segment, conversationId);
}

/** What can be said about a profile without its password (CLI `status`). */
export interface ProfileInfo {
  exists: boolean;
  format?: number;
  schemaVersion?: number;
  kdf?: KdfParams;
  /** pid of the live process holding the profile, if any. */
  lockedBy?: number;
}

/** Reads only the header and the lock file; never opens the database. Throws header errors. */
export function inspectProfile(profileDir: string): ProfileInfo {
  if (!Vault.exists(profileDir)) {
    if (Vault.headerMissing(profileDir)) throw new VaultCorrupt(headerMissingMessage(profileDir));
    return { exists: false };
  }
  const header = readHeader(profileDir);
  const info: ProfileInfo = {
    exists: true,
    format: header.format,
    kdf: { memoryKiB: header.kdf.memoryKiB, iterations: header.kdf.iterations, parallelism: header.kdf.parallelism },
  };
  const owner = liveLockOwner(profileDir);
  if (owner !== undefined) info.lockedBy = owner;
  return info;
}

interface LongTransaction {
  /** BEGIN has run (before that it waits for running activities to end). */
  open: boolean;
  /** True while one of its `write` steps runs (JS is single-threaded: nothing else can). */
  writing: boolean;
  /** Committed changes end here while it is open (changesSince). */
  seqAtStart: number;
  idle: Promise<void>;
}

export class Vault implements VaultHandle {
  readonly profileDir: string;
  readonly sealedFiles: SealedFiles;
  private db: Database.Database | undefined;
  private header: VaultHeader;
  private readonly keys: VaultKeys;
  private readonly profileLock: ProfileLock;
  private seq = 0;
  private nextSegment = 1;
  private longTx: LongTransaction | undefined;
  private activities = 0;
  private activitiesDone: (() => void) | undefined;
  private stmts!: ReturnType<Vault['prepare']>;

  private constructor(profileDir: string, header: VaultHeader, dataKey: Buffer, profileLock: ProfileLock) {
    this.profileDir = profileDir;
    this.header = header;
    this.profileLock = profileLock;
    this.keys = new VaultKeys(dataKey, header.vaultId);
    const files = new SealedFileStore(profileDir, () => this.key('sealed_files'));
    this.sealedFiles = {
      write: (name, data) => {
        this.ensureUnlocked();
        files.write(name, data);
      },
      read: (name) => {
        this.ensureUnlocked();
        return files.read(name);
      },
      remove: (name) => {
        this.ensureUnlocked();
        files.remove(name);
      },
    };
    files.removeStaleTemps();
  }

  // ---------------------------------------------------------------- lifecycle

  static exists(profileDir: string): boolean {
    return existsSync(join(profileDir, HEADER_FILE));
  }

  /** vault.db without vault.header.json: unlock says so; recovery with the phrase still works. */
  static headerMissing(profileDir: string): boolean {
    return !Vault.exists(profileDir) && existsSync(join(profileDir, DB_FILE));
  }

  /** A header-less vault.db that `create` keeps (and refuses): one holding a recovery copy, or unreadable. */
  static headerLost(profileDir: string): boolean {
    return Vault.headerMissing(profileDir) && probeRecoveryCopy(join(profileDir, DB_FILE)).kind !== 'none';
  }

  static async create(profileDir: string, password: string, options?: { kdf?: KdfParams }): Promise<{ vault: Vault; recoveryPhrase: string }> {
    const params = checkKdfParams(options?.kdf ?? DEFAULT_KDF);
    checkNewPassword(password);
    ensurePrivateDir(profileDir);
    if (Vault.exists(profileDir)) throw new VaultExists(profileDir);
    const lock = ProfileLock.acquire(profileDir);
    // A database without its header: the leftover of an interrupted create (which never showed
    // its phrase) is cleared; one holding a recovery copy (recovery-copy.ts), or unreadable, is
    // a vault whose header was lost, and is kept.
    if (probeRecoveryCopy(join(profileDir, DB_FILE)).kind !== 'none') {
      lock.release();
      throw new VaultExists(profileDir, headerMissingMessage(profileDir));
    }
    removeDatabaseFiles(profileDir);
    // Outside the V8 heap, where the GC could leave moved copies (secret-bytes.ts).
    const dataKey = randomFillSync(keyBuffer(32));
    const entropy = randomFillSync(keyBuffer(32));
    let passwordKey: Buffer | undefined;
    let recoveryKey: Buffer | undefined;
    let vault: Vault | undefined;
    try {
      const vaultId = randomBytes(16);
      const kdf = { ...params, salt: randomBytes(SALT_BYTES) };
      passwordKey = await derivePasswordKey(password, kdf.salt, kdf);
      recoveryKey = deriveRecoveryKey(entropy, vaultId);
      const header: VaultHeader = {
        format: HEADER_FORMAT,
        vaultId,
        kdf,
        passwordWrap: wrapWithPassword(passwordKey, dataKey, vaultId, kdf),
        recoveryWrap: wrapWithRecovery(recoveryKey, dataKey, vaultId),
      };
      vault = new Vault(profileDir, header, dataKey, lock);
      vault.openDatabase(true);
      // The header is the commit point of create: without it the database cannot be opened.
      writeHeader(profileDir, header);
      // Only now: a database with a recovery copy is never cleared (see above).
      storeRecoveryCopy(vault.ensureUnlocked(), vault.header);
      return { vault, recoveryPhrase: newRecoveryPhrase(entropy) };
    } catch (err) {
      if (vault) vault.lock();
      else {
        dataKey.fill(0);
        lock.release();
      }
      if (!Vault.exists(profileDir)) removeDatabaseFiles(profileDir);
      throw mapError(err);
    } finally {
      entropy.fill(0);
      passwordKey?.fill(0);
      recoveryKey?.fill(0);
    }
  }

  static async unlock(profileDir: string, password: string): Promise<Vault> {
    if (typeof password !== 'string') throw new TypeError('password must be a string');
    if (!Vault.exists(profileDir)) throw Vault.headerMissing(profileDir) ? new VaultCorrupt(headerMissingMessage(profileDir)) : new NoVault(profileDir);
    // Profiles made by older versions (or under a loose umask) become owner-only here.
    ensurePrivateDir(profileDir);
    const lock = ProfileLock.acquire(profileDir);
    let dataKey: Buffer | undefined;
    try {
      const header = readHeader(profileDir);
      const passwordKey = await derivePasswordKey(password, header.kdf.salt, header.kdf);
      dataKey = unwrapWithPassword(passwordKey, header);
      passwordKey.fill(0);
      if (!dataKey) throw new WrongPassword();
      const vault = new Vault(profileDir, header, dataKey, lock);
      try {
        vault.openDatabase(false);
      } catch (err) {
        vault.lock();
        throw err;
      }
      return vault;
    } catch (err) {
      dataKey?.fill(0);
      lock.release();
      throw mapError(err);
    }
  }

  /** Opens with the recovery phrase and sets a new password (re-wraps the data key). */
  static async unlockWithRecovery(profileDir: string, phrase: string, newPassword: string): Promise<Vault> {
    checkNewPassword(newPassword);
    const entropy = phraseEntropy(phrase);
    // Without the header, vault.db's recovery copy serves (recovery-copy.ts).
    const fromCopy = !Vault.exists(profileDir);
    if (fromCopy && !Vault.headerMissing(profileDir)) throw new NoVault(profileDir);
    // Profiles made by older versions (or under a loose umask) become owner-only here.
    ensurePrivateDir(profileDir);
    const lock = ProfileLock.acquire(profileDir);
    let dataKey: Buffer | undefined;
    try {
      const header = fromCopy ? headerFromCopy(profileDir) : readHeader(profileDir);
      const recoveryKey = deriveRecoveryKey(entropy, header.vaultId);
      entropy.fill(0);
      dataKey = unwrapWithRecovery(recoveryKey, header);
      recoveryKey.fill(0);
      if (!dataKey) throw new WrongRecoveryPhrase();
      const kdf = freshKdf(header);
      const passwordKey = await derivePasswordKey(newPassword, kdf.salt, kdf);
      const newHeader: VaultHeader = { ...header, kdf, passwordWrap: wrapWithPassword(passwordKey, dataKey, header.vaultId, kdf) };
      passwordKey.fill(0);
      const vault = new Vault(profileDir, newHeader, dataKey, lock);
      try {
        vault.openDatabase(false);
        writeHeader(profileDir, newHeader);
      } catch (err) {
        vault.lock();
        throw err;
      }
      return vault;
    } catch (err) {
      entropy.fill(0);
      dataKey?.fill(0);
      lock.release();
      throw mapError(err);
    }
  }

  get isUnlocked(): boolean {
    return this.keys.unlocked;
  }

  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    this.ensureUnlocked();
    const newHeader = await rewrapPassword(this.keys, this.header, oldPassword, newPassword);
    writeHeader(this.profileDir, newHeader);
    this.header = newHeader;
  }

  lock(): void {
    if (!this.keys.unlocked) return;
    // A long transaction waiting for activities stops waiting (it then finds the vault locked).
    this.activitiesDone?.();
    this.keys.zero();
    try {
      this.db?.close();
    } finally {
      this.db = undefined;
      this.profileLock.release();
    }
  }

  // ---------------------------------------------------------------- database

  private openDatabase(creating: boolean): void {
    const db = openDatabase(this.profileDir, this.header, this.keys, creating);
    this.db = db;
    try {
      this.stmts = this.prepare(db);
      this.loadCounters();
    } catch (err) {
      throw mapError(err, this.profileDir);
    }
  }

  /** The change sequence and next segment id kept in memory, from the database. */
  private loadCounters(): void {
    const m = this.stmts.maxSeq.get();
    this.seq = Math.max(integerColumn(m?.a ?? 0, 'a change sequence number'), integerColumn(m?.b ?? 0, 'a tombstone sequence number'));
    this.nextSegment = integerColumn(this.stmts.maxSegment.get()?.s ?? 0, 'a segment id') + 1;
  }

  private prepare(db: Database.Database) {
    return {
      maxSeq: db.prepare<[], { a: number | null; b: number | null }>('SELECT (SELECT MAX(seq) FROM messages) AS a, (SELECT MAX(seq) FROM tombstones) AS b'),
      insertMessage: db.prepare<[string, string, number, number, number, number], unknown>(
        'INSERT OR IGNORE INTO messages (id, conversation_id, order_key, seq, segment, slot) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      insertSegment: db.prepare<[number, string, Buffer], unknown>('INSERT INTO message_segments (id, conversation_id, sealed) VALUES (?, ?, ?)'),
      segmentById: db.prepare<[number], { conversation_id: string; sealed: Buffer }>('SELECT conversation_id, sealed FROM message_segments WHERE id = ?'),
      updateSegment: db.prepare<[Buffer, number], unknown>('UPDATE message_segments SET sealed = ? WHERE id = ?'),
      deleteSegment: db.prepare<[number], unknown>('DELETE FROM message_segments WHERE id = ?'),
      maxSegment: db.prepare<[], { s: number | null }>('SELECT MAX(id) AS s FROM message_segments'),
      maxOrder: db.prepare<[string, string], { k: number | null }>(
        'SELECT MAX(k) AS k FROM (SELECT MAX(order_key) AS k FROM messages WHERE conversation_id = ? UNION ALL SELECT last FROM order_high WHERE conversation_id = ?)',
      ),
      raiseOrderHigh: db.prepare<[string, number], unknown>(
        'INSERT INTO order_high (conversation_id, last) VALUES (?, ?) ON CONFLICT (conversation_id) DO UPDATE SET last = MAX(last, excluded.last)',
      ),
      messageById: db.prepare<[string], MessageRow>(`SELECT ${MESSAGE_COLUMNS} WHERE m.id = ?`),
      newest: db.prepare<[string, number], MessageRow>(`SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ? ORDER BY m.order_key DESC LIMIT ?`),
      before: db.prepare<[string, number, number], MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ? AND m.order_key < ? ORDER BY m.order_key DESC LIMIT ?`,
      ),
      after: db.prepare<[string, number, number], MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ? AND m.order_key > ? ORDER BY m.order_key ASC LIMIT ?`,
      ),
      between: db.prepare<[string, number, number, number], MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} WHERE m.conversation_id = ? AND m.order_key > ? AND m.order_key < ? ORDER BY m.order_key ASC LIMIT ?`,
      ),
      // Raw rows (arrays, not objects): the bulk read builds one object per message, not two.
      chunkRows: db
        .prepare<[string, number, number], ChunkRow>(
          'SELECT m.id, m.order_key, m.seq, m.segment, m.slot, s.sealed FROM messages m LEFT JOIN message_state s ON s.message_id = m.id WHERE m.conversation_id = ? AND m.order_key > ? ORDER BY m.order_key ASC LIMIT ?',
        )
        .raw(),
      // Without any state row (e.g. a vault filled by a backup import) the join is a third of the query's cost.
      chunkRowsNoState: db
        .prepare<[string, number, number], ChunkRow>(
          'SELECT m.id, m.order_key, m.seq, m.segment, m.slot, NULL FROM messages m WHERE m.conversation_id = ? AND m.order_key > ? ORDER BY m.order_key ASC LIMIT ?',
        )
        .raw(),
      anyState: db.prepare<[], { n: number }>('SELECT EXISTS (SELECT 1 FROM message_state) AS n'),
      bySeq: db.prepare<[number, number], MessageRow>(`SELECT ${MESSAGE_COLUMNS} WHERE m.seq > ? ORDER BY m.seq ASC LIMIT ?`),
      tombstonesBySeq: db.prepare<[number, number], { id: string; seq: number }>('SELECT id, seq FROM tombstones WHERE seq > ? ORDER BY seq ASC LIMIT ?'),
      nextConversation: db.prepare<[string], { c: string }>('SELECT conversation_id AS c FROM messages WHERE conversation_id > ? ORDER BY conversation_id LIMIT 1'),
      setSeq: db.prepare<[number, string], unknown>('UPDATE messages SET seq = ? WHERE id = ?'),
      putState: db.prepare<[string, Buffer], unknown>('INSERT OR REPLACE INTO message_state (message_id, sealed) VALUES (?, ?)'),
      deleteMessage: db.prepare<[string], unknown>('DELETE FROM messages WHERE id = ?'),
      deleteState: db.prepare<[string], unknown>('DELETE FROM message_state WHERE message_id = ?'),
      putTombstone: db.prepare<[string, number], unknown>('INSERT OR REPLACE INTO tombstones (id, seq) VALUES (?, ?)'),
      countAll: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM messages'),
      countConversation: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?'),
      getSecret: db.prepare<[Buffer], { sealed: Buffer }>('SELECT sealed FROM account_secrets WHERE name_tag = ?'),
      putSecret: db.prepare<[Buffer, Buffer], unknown>('INSERT OR REPLACE INTO account_secrets (name_tag, sealed) VALUES (?, ?)'),
      kvGet: db.prepare<[Buffer, Buffer], { sealed: Buffer }>('SELECT sealed FROM kv WHERE ns_tag = ? AND key_tag = ?'),
      kvPut: db.prepare<[Buffer, Buffer, Buffer], unknown>('INSERT OR REPLACE INTO kv (ns_tag, key_tag, sealed) VALUES (?, ?, ?)'),
      kvDelete: db.prepare<[Buffer, Buffer], unknown>('DELETE FROM kv WHERE ns_tag = ? AND key_tag = ?'),
      kvList: db.prepare<[Buffer], { key_tag: Buffer; sealed: Buffer }>('SELECT key_tag, sealed FROM kv WHERE ns_tag = ?'),
      putContact: db.prepare<[string, Buffer], unknown>('INSERT INTO contacts (id, sealed) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed'),
      getContact: db.prepare<[string], { id: string; sealed: Buffer }>('SELECT id, sealed FROM contacts WHERE id = ?'),
      allContacts: db.prepare<[], { id: string; sealed: Buffer }>('SELECT id, sealed FROM contacts ORDER BY id'),
      putConversation: db.prepare<[string, number, Buffer], unknown>(
        'INSERT INTO conversations (id, last_activity, sealed) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_activity = excluded.last_activity, sealed = excluded.sealed',
      ),
      getConversation: db.prepare<[string], { id: string; last_activity: number; sealed: Buffer }>('SELECT id, last_activity, sealed FROM conversations WHERE id = ?'),
      listConversations: db.prepare<[number], { id: string; last_activity: number; sealed: Buffer }>(
        'SELECT id, last_activity, sealed FROM conversations ORDER BY last_activity DESC, id LIMIT ?',
      ),
      outboxPut: db.prepare<[string, number, Buffer], unknown>('INSERT OR REPLACE INTO outbox (id, created_at, sealed) VALUES (?, ?, ?)'),
      outboxList: db.prepare<[], { id: string; created_at: number; sealed: Buffer }>('SELECT id, created_at, sealed FROM outbox ORDER BY created_at, id'),
      outboxDelete: db.prepare<[string], unknown>('DELETE FROM outbox WHERE id = ?'),
    };
  }

  private ensureUnlocked(): Database.Database {
    if (!this.keys.unlocked || !this.db) throw new VaultLocked();
    return this.db;
  }

  private key(name: SubkeyName): Buffer {
    return this.keys.key(name);
  }

  /** Runs fn on the open database; maps SQLite corruption errors to VaultCorrupt. */
  private run<T>(fn: (db: Database.Database) => T): T {
    const db = this.ensureUnlocked();
    try {
      return fn(db);
    } catch (err) {
      throw mapError(err);
    }
  }

  /**
   * Writes go through here: while a long transaction is open only its own `write` steps may
   * write, so nothing else can join it (and be lost with its rollback) or slip in between.
   */
  private runWrite<T>(fn: (db: Database.Database) => T): T {
    if (this.longTx?.open && !this.longTx.writing) throw new VaultBusy();
    return this.run(fn);
  }

  /**
   * Runs `fn` (which may await) as one activity of the app (a send, a received message, an
   * export): a long transaction does not begin while activities run, and an activity does not
   * start while one is waiting to begin or open. So an activity never finds the vault busy
   * halfway through. Activities must not wait for each other's completion through this (a
   * nested call would wait for a long transaction that waits for the outer call).
   */
  async activity<T>(fn: () => Promise<T>): Promise<T> {
    while (this.longTx) await this.longTx.idle;
    this.activities++;
    try {
      return await fn();
    } finally {
      this.activities--;
      if (this.activities === 0) this.activitiesDone?.();
    }
  }

  /**
   * One SQLite transaction that spans several event-loop turns, for long merges (backup import)
   * that must be atomic without freezing the process. It waits for running activities to end
   * (new ones wait for it), then `work` makes its changes in synchronous `write(fn)` steps and
   * may await between them (progress, cancellation). Commits when `work` resolves; rolls back
   * when it throws or the vault is locked meanwhile. While it is open every other write is
   * refused with VaultBusy, and reads see its uncommitted rows, except changesSince, which
   * reports committed changes only (the search index never sees rows that may yet be rolled
   * back). `idle()` resolves when it is over.
   */
  async longTransaction<T>(work: (write: <R>(fn: () => R) => R) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    if (this.longTx) throw new VaultBusy();
    const db = this.ensureUnlocked();
    let done!: () => void;
    const idle = new Promise<void>((resolve) => (done = resolve));
    const tx: LongTransaction = { open: false, writing: false, seqAtStart: 0, idle };
    this.longTx = tx;
    // SQLite rolls a transaction back on its own after some errors (disk full, I/O): a caller
    // that caught the step's error must not go on writing in autocommit, nor commit.
    const stillOpen = (): void => {
      if (this.longTx !== tx || this.db !== db) throw new VaultLocked();
      if (!db.inTransaction) throw new Error('the long transaction was rolled back after a failed step');
    };
    const write = <R>(fn: () => R): R => {
      stillOpen();
      const outer = tx.writing;
      tx.writing = true;
      try {
        const result = fn();
        if (typeof (result as { then?: unknown } | null)?.then === 'function') throw new TypeError('a write step must be synchronous');
        return result;
      } finally {
        tx.writing = outer;
      }
    };
    const { signal } = options;
    try {
      // Running activities end first; a lock or the caller's abort ends the wait.
      while (this.activities > 0 && this.db === db && !signal?.aborted) {
        let wake = (): void => undefined;
        await new Promise<void>((resolve) => {
          wake = () => resolve();
          this.activitiesDone = wake;
          signal?.addEventListener('abort', wake, { once: true });
        });
        signal?.removeEventListener('abort', wake);
      }
      this.activitiesDone = undefined;
      if (this.db !== db) throw new VaultLocked();
      signal?.throwIfAborted();
      tx.seqAtStart = this.seq;
      this.run(() => db.exec('BEGIN IMMEDIATE'));
      tx.open = true;
      const result = await work(write);
      stillOpen();
      this.run(() => db.exec('COMMIT'));
      return result;
    } catch (err) {
      if (this.db === db && db.inTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // the original error is the one to report
        }
      }
      // The change sequence kept in memory moved with the rolled-back writes: read it again
      // (a stale value would only leave gaps, but the feed's numbering stays dense).
      if (this.db === db && tx.open) this.loadCounters();
      throw err;
    } finally {
      tx.open = false;
      if (this.longTx === tx) this.longTx = undefined;
      done();
    }
  }

  /** Resolves when no long transaction is waiting or open (at once when none is). */
  idle(): Promise<void> {
    return this.longTx?.idle ?? Promise.resolve();
  }

  /** True while a long transaction is open: other writes get VaultBusy. */
  get busy(): boolean {
    return this.longTx?.open === true;
  }

  private openSealed(name: SubkeyName, blob: Buffer, rowAd: Buffer, what: string): Buffer {
    return this.keys.openSealed(name, blob, rowAd, what);
  }

  /** Keyed tag for names whose clear text must not reach disk (kv keys, secret names). */
  private tag(...parts: string[]): Buffer {
    return this.keys.tag(...parts);
  }

  // ---------------------------------------------------------------- account secrets and kv

  getAccountSecret(name: string): Uint8Array | undefined {
    return this.run(() => {
      if (typeof name !== 'string' || name.length === 0) throw new TypeError('secret name must be a non-empty string');
      const nameTag = this.tag('account', name);
      const row = this.stmts.getSecret.get(nameTag);
      if (!row) return undefined;
      return decodeKeyed(this.openSealed('account_secrets', row.sealed, ad('account_secrets', nameTag.toString('hex')), 'account secret')).value;
    });
  }

  setAccountSecret(name: string, value: Uint8Array): void {
    this.runWrite(() => {
      if (typeof name !== 'string' || name.length === 0) throw new TypeError('secret name must be a non-empty string');
      if (!(value instanceof Uint8Array)) throw new TypeError('secret value must be bytes');
      const nameTag = this.tag('account', name);
      const plain = encodeKeyed(name, value);
      try {
        this.stmts.putSecret.run(nameTag, seal(this.key('account_secrets'), plain, ad('account_secrets', nameTag.toString('hex'))));
      } finally {
        plain.fill(0);
      }
    });
  }

  private kvTags(namespace: string, key?: string): { ns: Buffer; key: Buffer | undefined } {
    if (typeof namespace !== 'string' || namespace.length === 0) throw new TypeError('namespace must be a non-empty string');
    if (key !== undefined && typeof key !== 'string') throw new TypeError('key must be a string');
    return { ns: this.tag('kv-namespace', namespace), key: key === undefined ? undefined : this.tag('kv-key', namespace, key) };
  }

  kvGet(namespace: string, key: string): Uint8Array | undefined {
    return this.run(() => {
      const t = this.kvTags(namespace, key);
      const keyTag = t.key as Buffer;
      const row = this.stmts.kvGet.get(t.ns, keyTag);
      if (!row) return undefined;
      return decodeKeyed(this.openSealed('kv', row.sealed, ad('kv', t.ns.toString('hex'), keyTag.toString('hex')), 'kv entry')).value;
    });
  }

  kvSet(namespace: string, key: string, value: Uint8Array): void {
    this.runWrite(() => {
      if (!(value instanceof Uint8Array)) throw new TypeError('value must be bytes');
      const t = this.kvTags(namespace, key);
      const keyTag = t.key as Buffer;
      const plain = encodeKeyed(key, value);
      try {
        this.stmts.kvPut.run(t.ns, keyTag, seal(this.key('kv'), plain, ad('kv', t.ns.toString('hex'), keyTag.toString('hex'))));
      } finally {
        plain.fill(0);
      }
    });
  }

  kvDelete(namespace: string, key: string): void {
    this.runWrite(() => {
      const t = this.kvTags(namespace, key);
      this.stmts.kvDelete.run(t.ns, t.key as Buffer);
    });
  }

  kvKeys(namespace: string): string[] {
    return this.run(() => {
      const t = this.kvTags(namespace);
      const nsHex = t.ns.toString('hex');
      const keys = this.stmts.kvList.all(t.ns).map((row) => decodeKeyed(this.openSealed('kv', row.sealed, ad('kv', nsHex, blobColumn(row.key_tag, 'a kv key tag').toString('hex')), 'kv entry')).key);
      return keys.sort();
    });
  }

  // ---------------------------------------------------------------- contacts and conversations

  upsertContact(contact: ContactRecord): void {
    this.runWrite(() => {
      checkContact(contact);
      this.stmts.putContact.run(contact.id, seal(this.key('contacts'), encodeContact(contact), ad('contacts', contact.id)));
    });
  }

  private decodeContactRow(row: { id: string; sealed: Buffer }): ContactRecord {
    return decodeContact(row.id, this.openSealed('contacts', row.sealed, ad('contacts', row.id), `contact ${row.id}`));
  }

  getContact(id: string): ContactRecord | undefined {
    return this.run(() => {
      checkId(id, 'contact id');
      const row = this.stmts.getContact.get(id);
      return row ? this.decodeContactRow(row) : undefined;
    });
  }

  /** Handles are secret, so there is no index on them: contacts are few, this scans them. */
  findContactByHandle(handle: string): ContactRecord | undefined {
    return this.listContacts().find((c) => c.handle === handle);
  }

  listContacts(): ContactRecord[] {
    return this.run(() => this.stmts.allContacts.all().map((row) => this.decodeContactRow(row)));
  }

  upsertConversation(conversation: ConversationRecord): void {
    this.runWrite(() => {
      checkConversation(conversation);
      const c = conversation;
      this.stmts.putConversation.run(c.id, c.lastActivity, seal(this.key('conversations'), encodeConversation(c), ad('conversations', c.id, c.lastActivity)));
    });
  }

  private decodeConversationRow(row: { id: string; last_activity: number; sealed: Buffer }): ConversationRecord {
    const plain = this.openSealed('conversations', row.sealed, ad('conversations', row.id, row.last_activity), `conversation ${row.id}`);
    return decodeConversation(row.id, row.last_activity, plain);
  }

  getConversation(id: string): ConversationRecord | undefined {
    return this.run(() => {
      checkId(id, 'conversation id');
      const row = this.stmts.getConversation.get(id);
      return row ? this.decodeConversationRow(row) : undefined;
    });
  }

  listConversations(limit?: number): ConversationRecord[] {
    return this.run(() => {
      const n = limit === undefined ? -1 : checkLimit(limit);
      return this.stmts.listConversations.all(n).map((row) => this.decodeConversationRow(row));
    });
  }

  // ---------------------------------------------------------------- messages

  /**
   * One transaction per batch. Message bodies are sealed per segment (the batch's new messages
   * of one conversation, up to SEGMENT_MAX_*), one AEAD call per segment instead of per row.
   */
  appendMessages(batch: readonly NewMessage[]): StoredMessage[] {
    return this.runWrite((db) => {
      if (!Array.isArray(batch)) throw new TypeError('batch must be an array');
      for (const m of batch) checkNewMessage(m);
      if (batch.length === 0) return [];
      const now = Date.now();
      const key = this.key('messages');
      let seq = this.seq;
      let nextSegment = this.nextSegment;
      const result = db.transaction(() => {
        const sealer = new BatchSealer(key);
        const nextOrder = new Map<string, number>();
        const openByConversation = new Map<string, PendingSegment>();
        const pendingById = new Map<number, PendingSegment>();
        const out: StoredMessage[] = [];
        const flush = (p: PendingSegment) => {
          this.stmts.insertSegment.run(p.id, p.conversationId, sealer.seal(encodeSegment(p.entries), segmentAd(p.id, p.conversationId)));
          openByConversation.delete(p.conversationId);
          pendingById.delete(p.id);
        };
        try {
          for (const m of batch) {
            const conv = m.conversationId;
            let orderKey = nextOrder.get(conv);
            if (orderKey === undefined) orderKey = (this.stmts.maxOrder.get(conv, conv)?.k ?? 0) + 1;
            let pending = openByConversation.get(conv);
            if (!pending) {
              pending = { id: nextSegment++, conversationId: conv, entries: [], bytes: 0 };
              openByConversation.set(conv, pending);
              pendingById.set(pending.id, pending);
            }
            const info = this.stmts.insertMessage.run(m.id, conv, orderKey, seq + 1, pending.id, pending.entries.length) as Database.RunResult;
            if (info.changes === 1) {
              seq += 1;
              nextOrder.set(conv, orderKey + 1);
              const body: MessageBody = { direction: m.direction, sender: m.sender, sentAt: m.sentAt, receivedAt: m.receivedAt ?? now, text: m.text, state: m.state };
              pending.entries.push(segmentEntry(m.id, orderKey, body));
              pending.bytes += m.text.length + m.sender.length + m.id.length + 64;
              out.push({ id: m.id, conversationId: conv, ...body, orderKey, seq });
              if (pending.entries.length >= SEGMENT_MAX_MESSAGES || pending.bytes >= SEGMENT_MAX_BYTES) flush(pending);
            } else {
              const existing = this.stmts.messageById.get(m.id);
              if (!existing) throw new VaultCorrupt(`ordering key ${orderKey} of a conversation is taken twice`);
              const inBatch = pendingById.get(existing.segment);
              out.push(inBatch ? this.messageFromEntry(existing, inBatch.entries[existing.slot]) : (this.decodeRows([existing])[0] as StoredMessage));
            }
          }
          for (const p of [...openByConversation.values()]) if (p.entries.length > 0) flush(p);
        } finally {
          sealer.dispose();
        }
        return out;
      })();
      this.seq = seq;
      this.nextSegment = nextSegment;
      return result;
    });
  }

  /** Checks that the sealed entry is the one the row claims (id, ordering key), then builds the message. */
  private messageFromEntry(row: MessageRow, entry: SegmentEntry | undefined): StoredMessage {
    if (!entry || entry[0] !== row.id || entry[1] !== row.order_key) {
      throw new VaultCorrupt(`message ${row.id} does not match its sealed entry (moved, swapped or edited)`);
    }
    return {
      id: row.id,
      conversationId: row.conversation_id,
      direction: entry[2],
      sender: entry[3],
      sentAt: entry[4],
      receivedAt: entry[5],
      text: entry[6],
      state: row.state_sealed ? this.openState(row.id, row.seq, row.state_sealed) : entry[7],
      orderKey: row.order_key,
      seq: row.seq,
    };
  }

  /** A state written after append (updateMessageState); its AD binds the message id and its current seq. */
  private openState(id: string, seq: number, sealed: Buffer): MessageState {
    const s = this.openSealed('message_state', sealed, ad('message_state', id, seq), `state of message ${id}`);
    try {
      return checkState(s.toString('utf8'));
    } catch (err) {
      throw new VaultCorrupt(`state of message ${id} is not decodable`, { cause: err });
    }
  }

  private loadSegment(segment: number, conversationId: string, opener: BatchOpener): SegmentEntry[] {
    const seg = this.stmts.segmentById.get(segment);
    if (!seg) throw new VaultCorrupt(`message segment ${segment} is missing`);
    if (seg.conversation_id !== conversationId) throw new VaultCorrupt(`message segment ${segment} belongs to another conversation`);
    let plain: Buffer;
    try {
      plain = opener.open(blobColumn(seg.sealed, `message segment ${segment}`), segmentAd(segment, seg.conversation_id));
    } catch (err) {
      if (err instanceof SealOpenError) throw new VaultCorrupt(`message segment ${segment} failed authentication (tampered, swapped or damaged)`);
      throw err;
    }
    return decodeSegment(plain);
  }

  /** Decodes rows, opening each segment once. */
  private decodeRows(rows: MessageRow[]): StoredMessage[] {
    const opener = new BatchOpener(this.key('messages'));
    const segments = new Map<number, SegmentEntry[]>();
    try {
      return rows.map((row) => {
        let entries = segments.get(row.segment);
        if (!entries) {
          entries = this.loadSegment(row.segment, row.conversation_id, opener);
          segments.set(row.segment, entries);
        }
        return this.messageFromEntry(row, entries[row.slot]);
      });
    } finally {
      opener.dispose();
    }
  }

  getMessage(id: string): StoredMessage | undefined {
    return this.run(() => {
      checkId(id, 'message id');
      const row = this.stmts.messageById.get(id);
      return row ? this.decodeRows([row])[0] : undefined;
    });
  }

  pageMessages(conversationId: string, query: PageQuery): StoredMessage[] {
    return this.run(() => {
      checkId(conversationId, 'conversation id');
      if (typeof query !== 'object' || query === null) throw new TypeError('query must be an object');
      const limit = checkLimit(query.limit);
      const { before, after } = query;
      if (before !== undefined && !Number.isFinite(before)) throw new TypeError('before must be a number');
      if (after !== undefined && !Number.isFinite(after)) throw new TypeError('after must be a number');
      let rows: MessageRow[];
      if (before !== undefined && after !== undefined) rows = this.stmts.between.all(conversationId, after, before, limit);
      else if (after !== undefined) rows = this.stmts.after.all(conversationId, after, limit);
      else if (before !== undefined) rows = this.stmts.before.all(conversationId, before, limit).reverse();
      else rows = this.stmts.newest.all(conversationId, limit).reverse();
      return this.decodeRows(rows);
    });
  }

  pageAround(messageId: string, before: number, after: number): StoredMessage[] {
    return this.run(() => {
      checkId(messageId, 'message id');
      const row = this.stmts.messageById.get(messageId);
      if (!row) return [];
      const older = before > 0 ? this.stmts.before.all(row.conversation_id, row.order_key, checkLimit(before)).reverse() : [];
      const newer = after > 0 ? this.stmts.after.all(row.conversation_id, row.order_key, checkLimit(after)) : [];
      return this.decodeRows([...older, row, ...newer]);
    });
  }

  /**
   * True when the phrase opens this vault's recovery wrap (nothing is changed). Lets the app
   * confirm that the user wrote the phrase down, without keeping the phrase in memory.
   */
  checkRecoveryPhrase(phrase: string): boolean {
    this.ensureUnlocked();
    return recoveryPhraseOpens(this.keys, this.header, phrase);
  }

  transaction<T>(fn: () => T): T {
    return this.run((db) => {
      if (typeof fn !== 'function') throw new TypeError('transaction needs a function');
      return db.transaction(fn)();
    });
  }

  /** Unknown ids are ignored (a receipt may arrive for a message deleted meanwhile). */
  updateMessageState(id: string, state: MessageState): void {
    this.runWrite((db) => {
      checkId(id, 'message id');
      checkState(state);
      let seq = this.seq;
      db.transaction(() => {
        const row = this.stmts.messageById.get(id);
        if (!row) return;
        seq += 1;
        this.stmts.setSeq.run(seq, id);
        this.stmts.putState.run(id, seal(this.key('message_state'), Buffer.from(state, 'utf8'), ad('message_state', id, seq)));
      })();
      this.seq = seq;
    });
  }

  /** Removes the row, blanks its sealed entry (secure_delete scrubs freed bytes) and leaves a tombstone for changesSince. */
  deleteMessage(id: string): void {
    this.runWrite((db) => {
      checkId(id, 'message id');
      let seq = this.seq;
      db.transaction(() => {
        const row = this.stmts.messageById.get(id);
        if (!row) return;
        // Blank the slot and re-seal the segment: the text is gone from the database, not just unlinked.
        const opener = new BatchOpener(this.key('messages'));
        let entries: SegmentEntry[];
        try {
          entries = this.loadSegment(row.segment, row.conversation_id, opener);
        } finally {
          opener.dispose();
        }
        this.messageFromEntry(row, entries[row.slot]);
        entries[row.slot] = null;
        if (entries.every((e) => e === null)) {
          this.stmts.deleteSegment.run(row.segment);
        } else {
          const sealer = new BatchSealer(this.key('messages'));
          this.stmts.updateSegment.run(sealer.seal(encodeSegment(entries), segmentAd(row.segment, row.conversation_id)), row.segment);
          sealer.dispose();
        }
        this.stmts.deleteMessage.run(id);
        this.stmts.deleteState.run(id);
        this.stmts.raiseOrderHigh.run(row.conversation_id, row.order_key);
        seq += 1;
        this.stmts.putTombstone.run(id, seq);
      })();
      this.seq = seq;
    });
  }

  countMessages(conversationId?: string): number {
    return this.run(() => {
      if (conversationId === undefined) return this.stmts.countAll.get()?.n ?? 0;
      checkId(conversationId, 'conversation id');
      return this.stmts.countConversation.get(conversationId)?.n ?? 0;
    });
  }

  /**
   * Streams by conversation, one query per ITERATE_CHUNK rows; every segment is opened and
   * decoded once per chunk and all its messages taken from it (the same checks as a page: segment
   * AD, segment conversation, entry id and ordering key against the row; states come from the
   * rows, so they are current).
   */
  *iterateMessages(conversationId?: string): IterableIterator<StoredMessage> {
    if (conversationId !== undefined) checkId(conversationId, 'conversation id');
    let conversation = conversationId ?? this.run(() => this.stmts.nextConversation.get('')?.c);
    while (conversation !== undefined) {
      const conv = conversation;
      let after = Number.MIN_SAFE_INTEGER;
      for (;;) {
        const page = this.run(() => this.readChunk(conv, after));
        for (const m of page) yield m;
        if (page.length < ITERATE_CHUNK) break;
        after = (page[page.length - 1] as StoredMessage).orderKey;
      }
      if (conversationId !== undefined) return;
      const prev = conversation;
      conversation = this.run(() => this.stmts.nextConversation.get(prev)?.c);
    }
  }

  /** Up to ITERATE_CHUNK messages of one conversation after an ordering key, fully decoded (no generator state holds keys). */
  private readChunk(conversationId: string, after: number): StoredMessage[] {
    const withStates = this.stmts.anyState.get()?.n === 1;
    const rows = (withStates ? this.stmts.chunkRows : this.stmts.chunkRowsNoState).all(conversationId, after, ITERATE_CHUNK);
    const out = new Array<StoredMessage>(rows.length);
    const opener = new BatchOpener(this.key('messages'));
    let segmentId = -1;
    let entries: SegmentEntry[] = [];
    try {
      for (let i = 0; i < rows.length; i++) {
        const [id, orderKey, seq, segment, slot, stateSealed] = rows[i] as ChunkRow;
        if (segment !== segmentId) {
          entries = this.loadSegment(segment, conversationId, opener);
          segmentId = segment;
        }
        const e = entries[slot];
        if (!e || e[0] !== id || e[1] !== orderKey) throw new VaultCorrupt(`message ${id} does not match its sealed entry (moved, swapped or edited)`);
        out[i] = {
          id,
          conversationId,
          direction: e[2],
          sender: e[3],
          sentAt: e[4],
          receivedAt: e[5],
          text: e[6],
          state: stateSealed ? this.openState(id, seq, stateSealed) : e[7],
          orderKey,
          seq,
        };
      }
    } finally {
      opener.dispose();
    }
    return out;
  }

  changesSince(since: number, limit: number): ChangeBatch {
    return this.run(() => {
      if (!Number.isSafeInteger(since) || since < 0) throw new TypeError('since must be a non-negative integer seq');
      const n = checkLimit(limit);
      const upserts = this.stmts.bySeq.all(since, n + 1);
      const deletes = this.stmts.tombstonesBySeq.all(since, n + 1);
      const merged: ({ kind: 'u'; row: MessageRow } | { kind: 'd'; id: string; seq: number })[] = [
        ...upserts.map((row) => ({ kind: 'u' as const, row })),
        ...deletes.map((d) => ({ kind: 'd' as const, id: d.id, seq: d.seq })),
      ].sort((a, b) => (a.kind === 'u' ? a.row.seq : a.seq) - (b.kind === 'u' ? b.row.seq : b.seq));
      // During a long transaction only committed changes count (see longTransaction).
      const committedUpTo = this.longTx?.open ? this.longTx.seqAtStart : Infinity;
      const visible = merged.filter((item) => (item.kind === 'u' ? item.row.seq : item.seq) <= committedUpTo);
      const taken = visible.slice(0, n);
      const rows: MessageRow[] = [];
      const deleted: string[] = [];
      let maxSeq = since;
      for (const item of taken) {
        if (item.kind === 'u') {
          rows.push(item.row);
          maxSeq = item.row.seq;
        } else {
          deleted.push(item.id);
          maxSeq = item.seq;
        }
      }
      return { upserts: this.decodeRows(rows), deletes: deleted, maxSeq, more: visible.length > n };
    });
  }

  // ---------------------------------------------------------------- outbox

  outboxPut(item: OutboxItem): void {
    this.runWrite(() => {
      if (typeof item !== 'object' || item === null) throw new TypeError('outbox item must be an object');
      checkId(item.id, 'outbox id');
      checkTimestamp(item.createdAt, 'createdAt');
      if (!(item.body instanceof Uint8Array)) throw new TypeError('outbox body must be bytes');
      this.stmts.outboxPut.run(item.id, item.createdAt, seal(this.key('outbox'), item.body, ad('outbox', item.id, item.createdAt)));
    });
  }

  outboxList(): OutboxItem[] {
    return this.run(() =>
      this.stmts.outboxList.all().map((row) => ({
        id: row.id,
        createdAt: row.created_at,
        body: new Uint8Array(this.openSealed('outbox', row.sealed, ad('outbox', row.id, row.created_at), `outbox item ${row.id}`)),
      })),
    );
  }

  outboxDelete(id: string): void {
    this.runWrite(() => {
      checkId(id, 'outbox id');
      this.stmts.outboxDelete.run(id);
    });
  }
}

function checkLimit(limit: unknown): number {
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new RangeError(`limit must be an integer from 1 to ${MAX_PAGE}`);
  }
  return limit;
}
