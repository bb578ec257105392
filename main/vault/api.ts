// The vault's public contract, used by net/, e2e/, search/, backup/ and messenger.ts.
// Types only: the implementation lives beside this file (main/vault/index.ts exports
// `Vault`, which implements `VaultHandle`). Change this file only together with its users.

export type MessageDirection = 'in' | 'out';

/** Delivery state of a message. 'queued' = in the outbox, not yet accepted by the relay. */
export type MessageState = 'queued' | 'sent' | 'delivered' | 'read' | 'received' | 'failed';

export interface NewMessage {
  /** Opaque, globally unique id chosen by the caller (e.g. 32 hex chars). Appending an id that already exists is a no-op. */
  id: string;
  conversationId: string;
  direction: MessageDirection;
  /** Contact id of the author, or 'self'. */
  sender: string;
  /** Milliseconds since the epoch, as the sender stated it. */
  sentAt: number;
  /** Milliseconds since the epoch, when this device stored it. Defaults to now. */
  receivedAt?: number;
  text: string;
  state: MessageState;
}

/** What appendMessages takes: a message and, optionally, its content id. */
export interface AppendedMessage extends NewMessage {
  /**
   * The id the author's device gave the content (a received 1:1 text's), kept in the message's
   * sealed entry: a reply or a read receipt names it. A delete for everyone drops it.
   */
  contentId?: string;
}

export interface StoredMessage extends Required<NewMessage> {
  /** As appended (AppendedMessage.contentId); absent when none was given, or after a delete for everyone. */
  contentId?: string;
  /** Per-conversation ordering key, strictly increasing in append order. */
  orderKey: number;
  /** Vault-wide change sequence of the last write to this message (append or state update). */
  seq: number;
}

export interface ContactRecord {
  id: string;
  handle: string;
  displayName: string;
  /** Public identity key (libsignal serialized), once known. */
  identityKey?: Uint8Array;
  /**
   * The identity key whose safety number the user compared and marked verified. The contact is
   * verified only while this is its identity key (records.ts isVerified); any other key is not.
   */
  verifiedKey?: Uint8Array;
  /** Set when the contact's identity key changed and the user has not accepted it yet. */
  identityChanged: boolean;
  createdAt: number;
}

export interface ConversationRecord {
  id: string;
  kind: 'direct';
  /** For 'direct': the contact id. */
  contactId: string;
  title: string;
  /** ms since epoch of the newest message (plaintext ordering column). */
  lastActivity: number;
  unread: number;
}

export interface PageQuery {
  /** Return messages with orderKey < before (newest first, then returned in ascending order). */
  before?: number;
  /** Return messages with orderKey > after (ascending). */
  after?: number;
  limit: number;
}

export interface OutboxItem {
  /** Idempotency key; also the primary key. */
  id: string;
  /** Sealed at rest; opaque to the vault. */
  body: Uint8Array;
  createdAt: number;
}

export interface ChangeBatch {
  /** Messages appended or updated with seq > since, ascending by seq. */
  upserts: StoredMessage[];
  /** Ids of messages deleted with seq > since. */
  deletes: string[];
  /** Highest seq covered by this batch (== since when nothing changed). */
  maxSeq: number;
  /** True when more changes remain after maxSeq. */
  more: boolean;
}

/** Sealed blobs kept as files in the profile directory (e.g. the search index snapshot). */
export interface SealedFiles {
  /**
   * Atomically replaces NAME (temp file + rename). NAME matches /^[a-z0-9-]+$/. Sealed under
   * `key` when given (a 32-byte key of the caller's, e.g. one per search snapshot generation,
   * destroyed with it), else under the vault's sealed-files subkey.
   */
  write(name: string, data: Uint8Array, key?: Uint8Array): void;
  /** As write, yielding to the event loop between chunks (big snapshots); an abort leaves the old file. */
  writeInSteps(name: string, data: Uint8Array, signal?: AbortSignal, key?: Uint8Array): Promise<void>;
  /** undefined when absent; throws VaultCorrupt when present but tampered or truncated (or sealed under another key). */
  read(name: string, key?: Uint8Array): Uint8Array | undefined;
  remove(name: string): void;
}

export interface VaultHandle {
  readonly profileDir: string;
  readonly isUnlocked: boolean;

  changePassword(oldPassword: string, newPassword: string): Promise<void>;
  /** True when the 24-word phrase opens this vault's recovery wrap; changes nothing. */
  checkRecoveryPhrase(phrase: string): boolean;
  /** Drops every key from memory (zeroed) and closes the database. */
  lock(): void;

  // Account secrets (device permanent key, libsignal identity, ...), sealed.
  getAccountSecret(name: string): Uint8Array | undefined;
  setAccountSecret(name: string, value: Uint8Array): void;

  // Generic sealed key-value namespaces (libsignal stores, secret settings). A write over an
  // entry that is there, a deletion of one (and of an outbox item; setAccountSecret, upsertContact
  // and upsertConversation over a row that is there) owes the bounded scrub at lock (scrub.ts
  // REPLACED_SECRETS_MAX_AGE_MS): SQLite's rebalancing can leave the older value's sealed bytes
  // in a page gap. The vault tells itself.
  kvGet(namespace: string, key: string): Uint8Array | undefined;
  kvSet(namespace: string, key: string, value: Uint8Array): void;
  kvDelete(namespace: string, key: string): void;
  /**
   * kvDelete for an entry that must not outlive its deletion on disk (a key): its freed cell is
   * zeroed (secure_delete) and the WAL checkpointed and truncated, so no old page version keeps
   * it (when called inside a transaction, the next checkpoint does that). Copies SQLite's
   * rebalancing left in pages' unallocated space go with the scrub at the next lock (scrub.ts).
   */
  kvForget(namespace: string, key: string): void;
  /**
   * For a deletion that runs no checkpoint of its own (a used or retired prekey): owes the scrub
   * at the next lock (scrub.ts), which clears the copies b-tree rebalancing left of the row.
   */
  oweScrub(): void;
  kvKeys(namespace: string): string[];

  // The search snapshot generations' file keys (main/search/snapshot-store.ts), sealed in a fixed
  // set of slots whose values are only ever overwritten in place (main/vault/kv.ts), not in kv.
  /** The key of `generation` (32 hex digits) if a slot holds it; the caller zeroes it. */
  snapshotKeyGet(generation: string): Uint8Array | undefined;
  /** Stores the 32-byte key of `generation` in a slot that does not hold `keep`'s key (destroying what that slot held). */
  snapshotKeyPut(generation: string, key: Uint8Array, keep: string | undefined): void;
  /**
   * Destroys every slot's key but `keep`'s (zeroed in place) and checkpoints and truncates the
   * WAL, so no file holds them: unlike kvForget, it owes no scrub at lock.
   */
  forgetSnapshotKeys(keep: string): void;

  upsertContact(contact: ContactRecord): void;
  getContact(id: string): ContactRecord | undefined;
  findContactByHandle(handle: string): ContactRecord | undefined;
  listContacts(): ContactRecord[];

  upsertConversation(conversation: ConversationRecord): void;
  getConversation(id: string): ConversationRecord | undefined;
  /** Newest activity first. */
  listConversations(limit?: number): ConversationRecord[];

  /** One durable transaction per call. Skips ids already present. Returns the stored rows in input order (existing ones as stored). */
  appendMessages(batch: readonly AppendedMessage[]): StoredMessage[];
  getMessage(id: string): StoredMessage | undefined;
  /** Ascending by orderKey. Without before/after: the newest `limit` messages. */
  pageMessages(conversationId: string, query: PageQuery): StoredMessage[];
  /** The message plus up to `before` older and `after` newer ones of its conversation, ascending. */
  pageAround(messageId: string, before: number, after: number): StoredMessage[];
  updateMessageState(id: string, state: MessageState): void;
  deleteMessage(id: string): void;
  /** "Delete for me": re-seals their segments without them and truncates the WAL. Returns the ids deleted (unknown ids and other conversations' skipped). */
  deleteMessages(conversationId: string, messageIds: readonly string[]): string[];
  /** Every message of the conversation, as deleteMessages; the conversation record stays. */
  deleteConversation(conversationId: string): string[];
  countMessages(conversationId?: string): number;
  /** Streams every message, conversation by conversation, ascending by orderKey, in bounded memory. */
  iterateMessages(conversationId?: string): IterableIterator<StoredMessage>;
  /** Change feed for derived indexes (search). */
  changesSince(since: number, limit: number): ChangeBatch;

  /**
   * Runs fn in one SQLite transaction: every vault write inside it (they nest as savepoints) is
   * kept together or not at all. fn must be synchronous. After a rollback the change sequence may
   * skip numbers; consumers of changesSince only rely on it increasing.
   */
  transaction<T>(fn: () => T): T;
  /** As transaction, but durable only at the next full commit or syncCommitted() (Vault.relaxedTransaction). */
  relaxedTransaction<T>(fn: () => T): T;
  /** As relaxedTransaction, but sharing one commit with the other batched calls of this event-loop turn (Vault.batchedTransaction). */
  batchedTransaction<T>(fn: () => T): T;
  /** Inside a batched call: keeps a write until the batch commits (WriteGate.deferToBatch); false elsewhere. */
  deferToBatch(hook: { flush(): void; drop(): void }): boolean;
  /** Commits the open batch of batched calls now, if any. */
  commitBatch(): void;
  /** Makes every commit so far durable; false when it could not now (inside a transaction). */
  syncCommitted(): boolean;
  /** Makes every commit made before the call durable, the fsync off the main thread (WriteGate.syncCommittedAsync). */
  syncCommittedAsync(): Promise<void>;
  /** As syncCommitted for the mailbox's acknowledgements, the fsync off the main thread (WriteGate.syncCommittedForAcks). */
  syncCommittedForAcks(): Promise<boolean>;
  /** True once a write of this unlock may not have reached the disk (WriteGate.durabilityLost): every sync then throws DurabilityLost. */
  readonly durabilityLost: boolean;
  /** Calls `listener` once when durability is lost, at once if it already is (WriteGate.onDurabilityLost); returns the unsubscribe. */
  onDurabilityLost(listener: () => void): () => void;
  /** Changes whenever earlier writes may have been undone (a rollback, a failed batch commit, lock): see WriteGate.writeEpoch. */
  writeEpoch(): number;
  /**
   * One transaction spanning event-loop turns (see WriteGate.longTransaction): `work` writes in
   * synchronous `write(fn)` steps, each given a writer on the transaction, and may await
   * between them; commit on resolve, rollback on throw. Meanwhile other writes fail with
   * VaultBusy.
   */
  longTransaction<T>(work: (write: <R>(fn: (writer: VaultWriter) => R) => R) => Promise<T>, options?: { signal?: AbortSignal }): Promise<T>;
  /** Resolves when no long transaction is waiting or open. */
  idle(): Promise<void>;
  /** Runs fn as one activity: long transactions wait for running activities, and new activities for them (see Vault.activity). */
  activity<T>(fn: () => Promise<T>): Promise<T>;
  /** True while a long transaction is open. */
  readonly busy: boolean;

  outboxPut(item: OutboxItem): void;
  outboxList(): OutboxItem[];
  outboxDelete(id: string): void;

  readonly sealedFiles: SealedFiles;
}

/** The writes, as a long transaction's step gets them (VaultHandle.longTransaction). */
export type VaultWriter = Pick<
  VaultHandle,
  'setAccountSecret' | 'kvSet' | 'kvDelete' | 'upsertContact' | 'upsertConversation' | 'appendMessages' | 'updateMessageState' | 'deleteMessage' | 'outboxPut' | 'outboxDelete'
>;
