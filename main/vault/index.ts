// The vault: history at rest. See docs/vault.md for the file layout, key hierarchy, sealing
// construction and the performance design. `Vault` is a facade: create / unlock / recover in
// lifecycle.ts, the keys in keys.ts, opening the database in open.ts, the activity / long-transaction gate in gate.ts, the
// prepared statements and a long transaction's writer in prepared.ts, sealed files and the sliced
// deletion's store over the gate in gated.ts, the password-free profile look in profile-info.ts, and one
// module per table (kv.ts, contacts.ts, messages/, outbox.ts) whose reads take a ReadableDB and
// whose writes take a WritableDB (handles.ts).
// Past 500 lines on purpose: the facade is the vault's whole API, each method a short delegation
// to the modules above; splitting it would split one interface (api.ts VaultHandle) in two.
import type Database from 'better-sqlite3';
import type {
  ChangeBatch,
  ContactRecord,
  ConversationRecord,
  MessageState,
  AppendedMessage,
  OutboxItem,
  PageQuery,
  SealedFiles,
  StoredMessage,
  VaultHandle,
  VaultWriter,
} from './api.ts';
import * as contacts from './contacts.ts';
import { deleteConversationInSlices, deleteInSlices, finishPendingDeletions, PENDING_DELETIONS, type DeletionOptions, type DeletionReport, type DeletionStore } from './deletion.ts';
import { WriteGate, type BatchHook } from './gate.ts';
import { gatedDeletionStore, gatedSealedFiles } from './gated.ts';
import { writeHeader, type VaultHeader } from './header.ts';
import { DEFAULT_KDF, TEST_KDF, type KdfParams } from './kdf.ts';
import { recoveryPhraseOpens, rewrapPassword, VaultKeys } from './keys.ts';
import * as kv from './kv.ts';
import { createVault, headerLost, headerMissing, unlockVault, unlockVaultWithRecovery, vaultExists, type Opening } from './lifecycle.ts';
import type { ProfileLock } from './lockfile.ts';
import * as read from './messages/read.ts';
import { loadCounters, type MessageCounters } from './messages/statements.ts';
import * as write from './messages/write.ts';
import { forgetAllRecent } from './messages/recent.ts';
import { redactMessages } from './messages/redact.ts';
import { DB_FILE, mapError, openDatabase } from './open.ts';
import * as outbox from './outbox.ts';
import { prepareAll, upsertReporting, writerThrough, type ReplacedRows, type Statements } from './prepared.ts';
import { checkId } from './records.ts';
import { SealedFileStore } from './sealed-files.ts';
import { markScrubOwed, readScrubState, scrubAtLock, scrubbed, scrubIsStale, writeScrubState, type ScrubState } from './scrub.ts';

export { DEFAULT_KDF, TEST_KDF, type KdfParams };
export { KDF_LIMITS } from './kdf.ts';
export { DB_FILE };
export type { DeletionOptions, DeletionReport };

export { inspectProfile, type ProfileInfo } from './profile-info.ts';

/** A copy whose key bytes are its own (a kept record is never shared with a caller). */
/** Contacts kept opened by getContact (a plain Map emptied when full). */
const OPENED_CONTACTS_MAX = 1024;

function copyContact(c: ContactRecord): ContactRecord {
  return { ...c, ...(c.identityKey ? { identityKey: c.identityKey.slice() } : {}), ...(c.verifiedKey ? { verifiedKey: c.verifiedKey.slice() } : {}) };
}

export class Vault implements VaultHandle {
  readonly profileDir: string;
  readonly sealedFiles: SealedFiles;
  private header: VaultHeader;
  private readonly keys: VaultKeys;
  private readonly profileLock: ProfileLock;
  private readonly counters: MessageCounters = { seq: 0, nextSegment: 1 };
  private readonly gate: WriteGate<Statements['read'], Statements['write']>;
  /**
   * handle -> the contact record last opened for it with its sealed row, so a lookup (one per
   * received message) reads one row instead of opening every contact. Only a hint: the row is
   * read each time and the record used only while its sealed bytes are unchanged, so a
   * rolled-back or foreign write can never make it answer wrong. In memory only, cleared on lock.
   */
  private readonly contactIds = new Map<string, { record: ContactRecord; sealed: Buffer }>();
  /**
   * contact id -> the record last opened from its sealed row, with that row: getContact (a send
   * reads its contact twice) opens and parses the row again only when its sealed bytes changed.
   * Same rule as contactIds: the row is read each time. In memory only, cleared on lock.
   */
  private readonly openedContacts = new Map<string, { record: ContactRecord; sealed: Buffer }>();
  /** Unset until this unlock's first deletion; then true only if the scrub marker could not be written (scrub.ts). */
  private scrubOwed: boolean | undefined;
  /** The last scrub's time and whether secret rows were replaced since (scrub.ts), read once at unlock; replacedSince set here too. */
  private scrubState: ScrubState;
  /** Set at this unlock's first rowReplaced (the rest of its calls return at once). */
  private rowsReplaced = false;
  /** Given to the kv writes until then (kv.ts kvSet): they probe for the row they write over. */
  private readonly onReplaced = (): void => this.rowReplaced();
  /** The same reporting for the long transaction's writer and the record upserts (prepared.ts). */
  private readonly replacedRows: ReplacedRows = {
    hook: () => this.replacedHook(),
    probing: () => !this.rowsReplaced,
    replaced: () => this.rowReplaced(),
  };

  private constructor(profileDir: string, header: VaultHeader, dataKey: Buffer, profileLock: ProfileLock) {
    this.profileDir = profileDir;
    this.header = header;
    this.profileLock = profileLock;
    this.keys = new VaultKeys(dataKey, header.vaultId);
    // Once per unlock (after the last lock's scrub: the profile lock is held): no file read per replacement.
    this.scrubState = readScrubState(profileDir);
    this.gate = new WriteGate(
      this.keys,
      {
        seq: () => this.counters.seq,
        reload: () => this.gate.read((r) => loadCounters(r, this.counters)),
      },
      () => this.owesScrub(),
    );
    const files = new SealedFileStore(profileDir, () => this.keys.key('sealed_files'));
    this.sealedFiles = gatedSealedFiles(this.gate, files);
    files.removeStaleTemps();
  }

  // ---------------------------------------------------------------- lifecycle

  static exists(profileDir: string): boolean {
    return vaultExists(profileDir);
  }

  /** vault.db without vault.header.json: unlock says so; recovery with the phrase still works. */
  static headerMissing(profileDir: string): boolean {
    return headerMissing(profileDir);
  }

  /** A header-less vault.db that `create` keeps (and refuses): one holding a recovery copy, or unreadable. */
  static headerLost(profileDir: string): boolean {
    return headerLost(profileDir);
  }

  /** A new vault and its recovery phrase (lifecycle.ts); `setAside`: where an orphaned vault.db was moved. */
  static async create(profileDir: string, password: string, options?: { kdf?: KdfParams }): Promise<{ vault: Vault; recoveryPhrase: string; setAside?: string }> {
    const made = await createVault(profileDir, password, options, Vault.make);
    // A new vault.db holds no older copy of anything: as good as scrubbed now (scrub.ts). If
    // this write fails, the state stays unknown (long ago) and the first replacement owes a scrub.
    const now = Date.now();
    const state = { scrubbedAt: now, replacedSince: false };
    if (writeScrubState(profileDir, state)) made.vault.scrubState = state;
    return made;
  }

  /** Finishes any deletion a crash interrupted (deletion.ts) before it returns: nothing asked deleted is ever read again. */
  static async unlock(profileDir: string, password: string): Promise<Vault> {
    return Vault.resumed(await unlockVault(profileDir, password, Vault.make));
  }

  /** Opens with the recovery phrase and sets a new password (re-wraps the data key). */
  static async unlockWithRecovery(profileDir: string, phrase: string, newPassword: string): Promise<Vault> {
    return Vault.resumed(await unlockVaultWithRecovery(profileDir, phrase, newPassword, Vault.make));
  }

  private static async resumed(vault: Vault): Promise<Vault> {
    try {
      await finishPendingDeletions(vault.deletionStore());
    } catch (err) {
      vault.lock();
      throw err;
    }
    return vault;
  }

  private static make(profileDir: string, header: VaultHeader, dataKey: Buffer, lock: ProfileLock): Opening<Vault> {
    const vault = new Vault(profileDir, header, dataKey, lock);
    return {
      vault,
      open: (creating) => vault.openDatabase(creating),
      checkOpen: () => vault.gate.checkOpen(),
      close: () => vault.lock(),
    };
  }

  get isUnlocked(): boolean {
    return this.keys.unlocked;
  }

  async changePassword(oldPassword: string, newPassword: string): Promise<void> {
    this.gate.checkOpen();
    const newHeader = await rewrapPassword(this.keys, this.header, oldPassword, newPassword);
    writeHeader(this.profileDir, newHeader);
    this.header = newHeader;
  }

  /**
   * True when the phrase opens this vault's recovery wrap (nothing is changed). Lets the app
   * confirm that the user wrote the phrase down, without keeping the phrase in memory.
   */
  checkRecoveryPhrase(phrase: string): boolean {
    this.gate.checkOpen();
    return recoveryPhraseOpens(this.keys, this.header, phrase);
  }

  lock(): void {
    if (!this.keys.unlocked) return;
    try {
      // An open batch commits while the keys are still here: its deferred writes (deferToBatch) seal rows.
      this.gate.commitBatch();
    } catch {
      // rolled back: none of it was acknowledged, the relay pushes it again
    }
    // Before the subkey is zeroed: the rows this unlock appended go at the lock, not at the next GC.
    forgetAllRecent(this.keys.key('messages'));
    this.keys.zero();
    this.contactIds.clear();
    this.openedContacts.clear();
    try {
      // A long transaction waiting for activities stops waiting (it then finds the vault locked).
      this.gate.close();
    } finally {
      // Replaced secret rows (this unlock's or an earlier one's) owe the scrub once the last one is too old.
      if ((this.rowsReplaced || this.scrubState.replacedSince) && scrubIsStale(this.scrubState.scrubbedAt, Date.now())) this.owesScrub();
      // The profile stays locked until the scrub of what this unlock deleted ends (scrub.ts).
      scrubAtLock(this.profileDir, this.scrubOwed === true, this.profileLock);
      this.scrubOwed = undefined;
    }
  }

  /**
   * A sealed row was written over or deleted without a checkpoint: any kv entry or account
   * secret (a libsignal session record at each message, a sender key chain, a held envelope, a
   * draft typed and erased, a pending-deletion record), an outbox item, a contact or
   * conversation record (an older nickname or title). SQLite's rebalancing can
   * leave a copy of its older value in a page gap. Owes the scrub at lock once the last scrub is
   * older than REPLACED_SECRETS_MAX_AGE_MS (scrub.ts). Called by the vault's own writes, so no
   * caller can forget it. Only the first call of an unlock does anything: when the last scrub is
   * already too old, it owes the scrub (the marker, as a deletion); otherwise it records durably,
   * once per scrub, that rows were replaced, so a later lock past the bound scrubs even if this
   * unlock never locks (the process ends).
   */
  private rowReplaced(): void {
    if (this.rowsReplaced || !this.keys.unlocked) return;
    this.rowsReplaced = true;
    const state = this.scrubState;
    if (scrubIsStale(state.scrubbedAt, Date.now())) this.owesScrub();
    else if (!state.replacedSince && state.scrubbedAt !== undefined) {
      // Not written: this unlock's lock still knows (rowsReplaced); only a crash forgets it.
      if (writeScrubState(this.profileDir, { scrubbedAt: state.scrubbedAt, replacedSince: true })) state.replacedSince = true;
    }
  }

  /**
   * For a deletion that runs no checkpoint of its own (a used or retired prekey, main/e2e/stores.ts:
   * one per received PreKey message, so no TRUNCATE each time): the lock's scrub is owed, which
   * clears any copy b-tree rebalancing left of the row; its WAL frames go when the lock closes the
   * database. Cheap after the first deletion of an unlock.
   */
  oweScrub(): void {
    if (this.keys.unlocked) this.owesScrub();
  }

  private owesScrub(): void {
    // Once per unlock: the marker (or, if it could not be written, this flag) makes lock scrub.
    if (this.scrubOwed === undefined) this.scrubOwed = !markScrubOwed(this.profileDir);
  }

  /** Resolves once the scrub that a lock of this profile started (scrub.ts) has ended; unlock waits for it too. */
  static scrubbed(profileDir: string): Promise<void> {
    return scrubbed(profileDir);
  }

  /** Opens vault.db, prepares every statement and puts it behind the gate. Returns the connection (create stores the recovery copy on it). */
  private openDatabase(creating: boolean): Database.Database {
    const db = openDatabase(this.profileDir, this.header, this.keys, creating);
    try {
      const statements = prepareAll(db, this.counters);
      this.gate.attach(db, statements.read, statements.write);
    } catch (err) {
      db.close();
      throw mapError(err, this.profileDir);
    }
    try {
      this.gate.read((r) => loadCounters(r, this.counters));
    } catch (err) {
      throw mapError(err, this.profileDir);
    }
    return db;
  }

  // ---------------------------------------------------------------- transactions and activities

  transaction<T>(fn: () => T): T {
    return this.gate.transaction(fn);
  }

  /**
   * fn in one transaction committed without waiting for an fsync (WriteGate.relaxedDurability):
   * atomic and in order, durable at the next full commit or syncCommitted(). For received
   * envelopes, acknowledged to the relay only after syncCommitted() (net/mailbox.ts).
   */
  relaxedTransaction<T>(fn: () => T): T {
    return this.gate.relaxedDurability(() => this.gate.transaction(fn));
  }

  /**
   * fn in its own savepoint of a transaction shared by the batched calls of this event-loop turn
   * and committed relaxed at the next turn or before any other write (WriteGate.batched). For
   * received envelopes: one commit per catch-up slice instead of one per envelope.
   */
  batchedTransaction<T>(fn: () => T): T {
    return this.gate.batched(fn);
  }

  /** See WriteGate.deferToBatch. */
  deferToBatch(hook: BatchHook): boolean {
    return this.gate.deferToBatch(hook);
  }

  /** Commits the open batch of batched calls now, if any (WriteGate.commitBatch); throws if it was rolled back. */
  commitBatch(): void {
    this.gate.commitBatch();
  }

  /** See WriteGate.writeEpoch. */
  writeEpoch(): number {
    return this.gate.writeEpoch;
  }

  /** See WriteGate.syncCommitted. */
  syncCommitted(): boolean {
    return this.gate.syncCommitted();
  }

  /** See WriteGate.syncCommittedAsync. */
  syncCommittedAsync(): Promise<void> {
    return this.gate.syncCommittedAsync();
  }

  /** See WriteGate.syncCommittedForAcks (the mailbox's acknowledgements, fsync off the main thread). */
  syncCommittedForAcks(): Promise<boolean> {
    return this.gate.syncCommittedForAcks();
  }

  /** See WriteGate.durabilityLost: a write of this unlock may not have reached the disk. */
  get durabilityLost(): boolean {
    return this.gate.durabilityLost;
  }

  /** See WriteGate.onDurabilityLost. */
  onDurabilityLost(listener: () => void): () => void {
    return this.gate.onDurabilityLost(listener);
  }

  /** See WriteGate.activity. */
  activity<T>(fn: () => Promise<T>): Promise<T> {
    return this.gate.activity(fn);
  }

  /**
   * See WriteGate.longTransaction. Each step gets a writer on the transaction's own writable
   * handle; the vault's own write methods also work inside a step (the gate lets them through
   * while a step runs) and get VaultBusy anywhere else while it is open.
   */
  longTransaction<T>(work: (write: <R>(fn: (writer: VaultWriter) => R) => R) => Promise<T>, options: { signal?: AbortSignal } = {}): Promise<T> {
    return this.gate.longTransaction((step) => {
      const writer = writerThrough(step, this.replacedRows);
      return work((fn) => step(() => fn(writer)));
    }, options);
  }

  /** Resolves when no long transaction is waiting or open (at once when none is). */
  idle(): Promise<void> {
    return this.gate.idle();
  }

  /** True while a long transaction is open: other writes get VaultBusy. */
  get busy(): boolean {
    return this.gate.busy;
  }

  // ---------------------------------------------------------------- account secrets and kv

  getAccountSecret(name: string): Uint8Array | undefined {
    return this.gate.read((r) => kv.getAccountSecret(r, name));
  }

  setAccountSecret(name: string, value: Uint8Array): void {
    this.gate.write((w) => kv.setAccountSecret(w, name, value, this.replacedHook()));
  }

  /** What a kv write gets to report a row it writes over (rowReplaced): nothing once one was, so the probe goes too. */
  private replacedHook(): (() => void) | undefined {
    return this.rowsReplaced ? undefined : this.onReplaced;
  }

  kvGet(namespace: string, key: string): Uint8Array | undefined {
    return this.gate.read((r) => kv.kvGet(r, namespace, key));
  }

  kvSet(namespace: string, key: string, value: Uint8Array): void {
    this.gate.write((w) => kv.kvSet(w, namespace, key, value, this.replacedHook()));
  }

  kvDelete(namespace: string, key: string): void {
    if (this.gate.write((w) => kv.kvDelete(w, namespace, key))) this.rowReplaced();
  }

  kvForget(namespace: string, key: string): void {
    this.kvDelete(namespace, key);
    this.gate.checkpoint();
  }

  kvKeys(namespace: string): string[] {
    return this.gate.read((r) => kv.kvKeys(r, namespace));
  }

  snapshotKeyGet(generation: string): Uint8Array | undefined {
    return this.gate.read((r) => kv.snapshotKeyGet(r, generation));
  }

  snapshotKeyPut(generation: string, key: Uint8Array, keep: string | undefined): void {
    this.gate.write((w) => kv.snapshotKeyPut(w, generation, key, keep));
  }

  forgetSnapshotKeys(keep: string): void {
    this.gate.write((w) => kv.snapshotKeysForget(w, keep));
    // The old values were overwritten in place (here, or by snapshotKeyPut): the WAL's old page
    // versions are their only other copies, and this checkpoint removes them. It owes no scrub (kv.ts).
    this.gate.truncateWal();
  }

  /** Whether the namespace holds any entry, without opening one. */
  kvHasAny(namespace: string): boolean {
    return this.gate.read((r) => kv.kvHasAny(r, namespace));
  }

  // ---------------------------------------------------------------- contacts and conversations

  upsertContact(contact: ContactRecord): void {
    this.gate.write((w) => upsertReporting(this.replacedRows, () => contacts.sealedContact(w, contact.id), () => contacts.upsertContact(w, contact)));
  }

  getContact(id: string): ContactRecord | undefined {
    return this.gate.read((r) => {
      const sealed = contacts.sealedContact(r, id);
      if (!sealed) return undefined;
      const opened = this.openedContacts.get(id);
      if (opened?.sealed.equals(sealed)) return copyContact(opened.record);
      const record = contacts.openContact(r, id, sealed);
      if (this.openedContacts.size >= OPENED_CONTACTS_MAX) this.openedContacts.clear();
      this.openedContacts.set(id, { record: copyContact(record), sealed });
      return record;
    });
  }

  /** Handles are secret, so there is no index on them on disk: the first lookup scans the contacts, later ones use the hint. */
  findContactByHandle(handle: string): ContactRecord | undefined {
    const hinted = this.contactIds.get(handle);
    if (hinted !== undefined) {
      const sealed = this.gate.read((r) => contacts.sealedContact(r, hinted.record.id));
      if (sealed?.equals(hinted.sealed)) return copyContact(hinted.record);
      this.contactIds.delete(handle);
    }
    const all = this.gate.read((r) => contacts.listContactsSealed(r));
    // The first in id order, as a plain scan would answer (handles are unique in practice).
    for (const c of all) if (!this.contactIds.has(c.record.handle)) this.contactIds.set(c.record.handle, { record: copyContact(c.record), sealed: c.sealed });
    return all.find((c) => c.record.handle === handle)?.record;
  }

  listContacts(): ContactRecord[] {
    return this.gate.read((r) => contacts.listContacts(r));
  }

  upsertConversation(conversation: ConversationRecord): void {
    this.gate.write((w) => upsertReporting(this.replacedRows, () => contacts.getConversation(w, conversation.id), () => contacts.upsertConversation(w, conversation)));
  }

  getConversation(id: string): ConversationRecord | undefined {
    return this.gate.read((r) => contacts.getConversation(r, id));
  }

  listConversations(limit?: number): ConversationRecord[] {
    return this.gate.read((r) => contacts.listConversations(r, limit));
  }

  // ---------------------------------------------------------------- messages

  appendMessages(batch: readonly AppendedMessage[]): StoredMessage[] {
    return this.gate.write((w) => write.appendMessages(w, batch));
  }

  getMessage(id: string): StoredMessage | undefined {
    return this.gate.read((r) => read.getMessage(r, id));
  }

  pageMessages(conversationId: string, query: PageQuery): StoredMessage[] {
    return this.gate.read((r) => read.pageMessages(r, conversationId, query));
  }

  pageAround(messageId: string, before: number, after: number): StoredMessage[] {
    return this.gate.read((r) => read.pageAround(r, messageId, before, after));
  }

  updateMessageState(id: string, state: MessageState): void {
    this.gate.write((w) => write.updateMessageState(w, id, state));
  }

  deleteMessage(id: string): void {
    this.gate.write((w) => write.deleteMessage(w, id));
  }

  /**
   * "Delete for me" (docs/vault.md "Deleting messages"): the listed messages of the
   * conversation, their segments re-sealed without them, then the WAL checkpointed and truncated
   * so no old page version stays in a file. Unknown ids, and ids of another conversation, are
   * skipped; returns the ids deleted.
   */
  deleteMessages(conversationId: string, messageIds: readonly string[]): string[] {
    const deleted = this.gate.write((w) => write.deleteMessages(w, conversationId, messageIds));
    if (deleted.length > 0) this.gate.checkpoint();
    return deleted;
  }

  /**
   * "Delete for everyone" (messages/redact.ts): the listed messages of the conversation keep
   * their place as tombstones without text; their segments are re-sealed with the text blanked,
   * then the WAL is checkpointed and truncated, as for deleteMessages. Returns the ids changed.
   * `evenIfBlank`: ids changed even when their text is already blank (an attachment without a
   * caption: the search index drops its file name on the tombstone entry).
   */
  redactMessages(conversationId: string, messageIds: readonly string[], evenIfBlank: readonly string[] = []): string[] {
    const changed = this.gate.write((w) => redactMessages(w, conversationId, messageIds, evenIfBlank));
    if (changed.length > 0) this.gate.checkpoint();
    return changed;
  }

  /** Every message of the conversation, as deleteMessages (the conversation record stays). Returns the ids deleted. */
  deleteConversation(conversationId: string): string[] {
    const deleted = this.gate.write((w) => write.deleteConversationMessages(w, conversationId));
    if (deleted.length > 0) this.gate.checkpoint();
    return deleted;
  }

  /**
   * "Delete for me" at any size without blocking the event loop (deletion.ts): the same result
   * as deleteMessages, in short transactions with a yield between them, under a sealed
   * pending-deletion record that the next unlock finishes if the process dies meanwhile.
   */
  deleteMessagesInSlices(conversationId: string, messageIds: readonly string[], options?: DeletionOptions): Promise<DeletionReport> {
    checkId(conversationId, 'conversation id');
    if (!Array.isArray(messageIds)) throw new TypeError('message ids must be an array');
    for (const id of messageIds) checkId(id, 'message id');
    return deleteInSlices(this.deletionStore(), conversationId, messageIds, options);
  }

  /** Every message of the conversation, as deleteMessagesInSlices (the conversation record stays). */
  deleteConversationInSlices(conversationId: string, options?: DeletionOptions): Promise<DeletionReport> {
    checkId(conversationId, 'conversation id');
    return deleteConversationInSlices(this.deletionStore(), conversationId, options);
  }

  /** Deletions begun and not finished (a crash, or a lock between slices); unlock finishes them. */
  pendingDeletions(): number {
    return this.kvKeys(PENDING_DELETIONS).length;
  }

  private deletionStore(): DeletionStore {
    return gatedDeletionStore(this.gate);
  }

  countMessages(conversationId?: string): number {
    return this.gate.read((r) => read.countMessages(r, conversationId));
  }

  /** Streams by conversation, one query per ITERATE_CHUNK rows (messages/read.ts readChunk). */
  *iterateMessages(conversationId?: string): IterableIterator<StoredMessage> {
    if (conversationId !== undefined) checkId(conversationId, 'conversation id');
    let conversation = conversationId ?? this.gate.read((r) => read.nextConversation(r, ''));
    while (conversation !== undefined) {
      const conv = conversation;
      let after = Number.MIN_SAFE_INTEGER;
      for (;;) {
        const page = this.gate.read((r) => read.readChunk(r, conv, after, read.ITERATE_CHUNK));
        for (const m of page) yield m;
        if (page.length < read.ITERATE_CHUNK) break;
        after = (page[page.length - 1] as StoredMessage).orderKey;
      }
      if (conversationId !== undefined) return;
      const prev = conversation;
      conversation = this.gate.read((r) => read.nextConversation(r, prev));
    }
  }

  changesSince(since: number, limit: number): ChangeBatch {
    return this.gate.read((r) => read.changesSince(r, since, limit, this.gate.committedSeq()));
  }

  // ---------------------------------------------------------------- outbox

  outboxPut(item: OutboxItem): void {
    this.gate.write((w) => outbox.outboxPut(w, item));
  }

  outboxList(): OutboxItem[] {
    return this.gate.read((r) => outbox.outboxList(r));
  }

  outboxGet(id: string): OutboxItem | undefined {
    return this.gate.read((r) => outbox.outboxGet(r, id));
  }

  /** True when the outbox holds an item under id (a point read, nothing unsealed). */
  outboxHas(id: string): boolean {
    return this.gate.read((r) => outbox.outboxHas(r, id));
  }

  outboxDelete(id: string): void {
    this.gate.write((w) => outbox.outboxDelete(w, id));
    // A request sent or given up (its sealed body may hold a message's text): as a kv deletion.
    this.rowReplaced();
  }
}
