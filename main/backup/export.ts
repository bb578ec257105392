// Export: vault -> line-delimited JSON -> age file, streaming in bounded memory. Writes a
// temporary file beside the target and renames it only when complete and fsynced, so a
// cancel or a crash never leaves a partial backup under the requested name.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { fsync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beginAtomicWrite, type AtomicFile } from '../../shared/atomic-write.ts';
import type { StoredMessage, VaultHandle } from '../vault/api.ts';
import { AgeWriter, createHeader, defaultChunkCipher, type AgeHeader, type ChunkCipher, type EncryptKeys } from './age-file.ts';
import { BackupError, BackupIoError, isFsError } from './errors.ts';
import { ATTACHMENT_CHUNK_BYTES, attachmentToLine, chunksOf, encodeChunkLine, type AttachmentSource } from './attachments.ts';
import { BACKUP_VERSION_WITH_GROUP_RECEIPTS, BACKUP_VERSION_WITH_GROUPS, groupReceiptsToLine, groupToLine, type GroupSource } from './groups.ts';
import {
  BACKUP_FORMAT,
  BACKUP_VERSION,
  BACKUP_VERSION_WITHOUT_ATTACHMENTS,
  MAX_LINE_BYTES,
  contactToLine,
  conversationToLine,
  encodeLine,
  encodeMessageLine,
  BACKUP_VERSION_WITH_REPLIES,
  type BackupCounts,
  type BackupLine,
} from './format.ts';
import type { ReplyLinkSource } from './replies.ts';
import { PROGRESS_EVERY, throwIfAborted, yieldAndCheck, type ProgressListener } from './progress.ts';
import { signingKeyOf, type BackupSigningKey } from './signature.ts';
import { WorkerLineSink, type LineSink } from './worker-export.ts';

/**
 * The account secrets that make up "the account identity" for --with-identity: the libsignal
 * identity key pair and the key that derives its address ids (names from main/e2e/kv.ts).
 */
export const ACCOUNT_IDENTITY_SECRETS: readonly string[] = ['e2e-identity-key-pair', 'e2e-address-key'];

export interface ExportOptions {
  keys: EncryptKeys;
  /**
   * Account secrets to include (names as stored with VaultHandle.setAccountSecret). Only when
   * the user asked for it: whoever can open the backup can then act as this account.
   */
  identitySecretNames?: readonly string[];
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** For tests and the benchmark; defaults to native when available. */
  chunkCipher?: ChunkCipher;
  /**
   * For tests and the benchmark: 'main' encodes, encrypts and writes on the calling thread too.
   * Default: a worker thread does that (worker-export.ts), with the native cipher only.
   */
  thread?: 'worker' | 'main';
  now?: () => number;
  /** For tests: sign with this key instead of the profile's identity (null: write an unsigned stream). */
  signingKey?: BackupSigningKey | null;
  /**
   * What the messenger knows of a message (its sealed records): `gone`, expired and not deleted
   * yet (never exported); `deleted`, deleted for everyone (exported as a tombstone line).
   * `tombstones`: how many it may answer `deleted` for (a file with one is version 3 at least).
   */
  messageStatus?: ((messageId: string) => 'gone' | 'deleted' | undefined) & { readonly tombstones?: number };
  /** The profile's attachments (main/messenger/backup-attachments.ts); without it the file holds none. */
  attachments?: AttachmentSource;
  /** False: each attachment's line without its bytes (the file stays small; the bytes stay in the profile). Default true. */
  includeAttachmentBytes?: boolean;
  /** The profile's groups (main/messenger/group-backup.ts); without it the file holds none. */
  groups?: GroupSource;
  /** The profile's reply links (main/messenger/backup-records.ts); without it no message line carries one. */
  replyLinks?: ReplyLinkSource;
}

export interface ExportResult {
  file: string;
  counts: BackupCounts;
  bytes: number;
  includesIdentity: boolean;
  /** The identity public key that signed the stream; undefined when the profile has no identity (unsigned backup). */
  signer: Uint8Array | undefined;
}

/**
 * Lines are UTF-8-encoded straight into one reused 1 MiB buffer (no string concatenation, no
 * Buffer per line); the age writer seals its whole chunks in place and keeps no reference.
 */
const BATCH_BYTES = 1024 * 1024;

/** The sink on the calling thread (the noble cipher, or when asked). */
class InlineLineSink implements LineSink {
  readonly #batch = Buffer.allocUnsafe(BATCH_BYTES);
  readonly #writer: AgeWriter;
  #used = 0;
  #hash: Hash | undefined = createHash('sha256');

  constructor(fd: number, header: AgeHeader, cipher: ChunkCipher) {
    this.#writer = new AgeWriter(fd, header, cipher);
  }

  text(text: string): void {
    // A UTF-16 unit is at most 3 UTF-8 bytes, so this much room always holds the line.
    if (this.#used + text.length * 3 > BATCH_BYTES) {
      this.#flush();
      if (text.length * 3 > BATCH_BYTES) {
        this.#write(Buffer.from(text, 'utf8'));
        return;
      }
    }
    this.#used += this.#batch.write(text, this.#used, 'utf8');
  }

  message(m: StoredMessage): boolean {
    this.text(encodeMessageLine(m));
    return true;
  }

  room(): Promise<void> {
    return Promise.resolve();
  }

  digest(): Promise<Uint8Array> {
    this.#flush();
    const d = this.#hash?.digest() ?? new Uint8Array(0);
    this.#hash = undefined;
    return Promise.resolve(d);
  }

  end(): Promise<number> {
    this.#flush();
    this.#writer.end();
    this.#batch.fill(0);
    return Promise.resolve(this.#writer.written);
  }

  dispose(): Promise<void> {
    this.#writer.destroy();
    this.#batch.fill(0);
    return Promise.resolve();
  }

  #flush(): void {
    this.#write(this.#batch.subarray(0, this.#used));
    this.#used = 0;
  }

  #write(bytes: Uint8Array): void {
    this.#hash?.update(bytes);
    this.#writer.write(bytes);
  }
}

const fsyncAsync = promisify(fsync);

/**
 * The first messages of a process's first export run cold (code not yet optimized, the next pages
 * of the vault read cold): 1,024 of them took 40-65 ms of main-thread CPU in one turn (100k, stop
 * 26) against ~12 ms warm, so the loop also runs every 128 messages until this many are done.
 */
const WARM_UP_MESSAGES = 4096;
const WARM_UP_YIELD_EVERY = 128;

/** A message line could pass MAX_LINE_BYTES only if this is (JSON escapes a UTF-16 unit in at most 6 bytes). */
const mayBeLong = (m: StoredMessage): boolean => (m.text.length + m.sender.length + m.id.length + m.conversationId.length) * 6 + 256 > MAX_LINE_BYTES;

export async function exportBackup(vault: VaultHandle, file: string, options: ExportOptions): Promise<ExportResult> {
  const { signal, onProgress } = options;
  throwIfAborted(signal);
  const target = resolve(file);
  const header = await createHeader(options.keys);
  throwIfAborted(signal);

  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.partial`);
  let out: AtomicFile;
  try {
    out = beginAtomicWrite(target, tmp);
  } catch (cause) {
    header.fileKey.fill(0);
    throw new BackupIoError(`Cannot write in ${dirname(target)}: ${(cause as Error).message}`, { cause });
  }
  const cipher = options.chunkCipher ?? defaultChunkCipher();
  let sink: LineSink;
  try {
    sink = options.thread !== 'main' && cipher === 'native' ? new WorkerLineSink(out.fd, header) : new InlineLineSink(out.fd, header, cipher);
  } catch (err) {
    header.fileKey.fill(0);
    out.abort();
    throw err;
  }
  // The signature covers every byte written before the signature line (signature.ts).
  const signingKey = options.signingKey === undefined ? signingKeyOf(vault) : (options.signingKey ?? undefined);
  try {
    // The event loop runs between the start's steps (header, worker start, lists, count), each a
    // few ms warm but 5-35 ms of CPU at a process's first export: together one 100 ms turn before.
    await yieldAndCheck(signal);
    const append = (text: string, what: string): void => {
      // Never write a file that import would refuse; the reader caps line length.
      if (text.length > MAX_LINE_BYTES / 4 && Buffer.byteLength(text) > MAX_LINE_BYTES) {
        throw new BackupError('IO', `A ${what} record is larger than ${MAX_LINE_BYTES} bytes and cannot be backed up.`);
      }
      sink.text(text);
    };
    const put = (line: BackupLine): void => append(encodeLine(line), line.type);

    const secretNames = options.identitySecretNames;
    const secrets: Array<{ name: string; value: Uint8Array }> = [];
    for (const name of secretNames ?? []) {
      const value = vault.getAccountSecret(name);
      if (value) secrets.push({ name, value });
    }
    const contacts = vault.listContacts();
    const conversations = vault.listConversations();
    await yieldAndCheck(signal);
    const total = vault.countMessages();
    // The event loop runs between the steps that are each one synchronous vault call: these
    // lists and the count, and (below) the first page of messages, the slowest page (cold code
    // and statements: 160-170 ms at 1M, load 5-7, against ~12 ms for a warm page of 2,048).
    await yieldAndCheck(signal);
    const source = options.attachments;
    const withFiles = source?.messageIds() ?? new Set<string>();
    // Version 3 only when the file can hold attachment lines (one without is what version 2 wrote),
    // or a tombstone line: readers of version 2 predate tombstones and must refuse the file as
    // too new (UNSUPPORTED_VERSION, "update Ephemera"), not as broken (docs/backup-format.md).
    const v3 = withFiles.size > 0 || (options.messageStatus?.tombstones ?? 0) > 0;
    // Version 4 only when the file holds group lines (older readers refuse them).
    const groups = options.groups?.groups() ?? [];
    // Version 5 only when the profile keeps receipts of own group texts (their lines follow the files).
    const receipts = groups.length > 0 && options.groups?.hasReceipts?.() === true ? options.groups : undefined;
    const withGroups = groups.length > 0 ? { groups: groups.length, ...(receipts ? { groupReceipts: 0 } : {}) } : {};
    // Version 6 only when a message line carries a reply link (older readers refuse the field).
    const replyOf = options.replyLinks;
    const withReplies = (replyOf?.count ?? 0) > 0;

    put({
      type: 'header',
      format: BACKUP_FORMAT,
      version: withReplies ? BACKUP_VERSION_WITH_REPLIES : receipts ? BACKUP_VERSION_WITH_GROUP_RECEIPTS : groups.length > 0 ? BACKUP_VERSION_WITH_GROUPS : v3 ? BACKUP_VERSION : BACKUP_VERSION_WITHOUT_ATTACHMENTS,
      created: (options.now ?? Date.now)(),
      counts: { contacts: contacts.length, conversations: conversations.length, messages: total, secrets: secrets.length, ...(v3 ? { attachments: withFiles.size } : {}), ...withGroups },
      includesIdentity: secretNames !== undefined,
      ...(signingKey ? { signer: Buffer.from(signingKey.publicKey).toString('base64') } : {}),
    });
    for (const s of secrets) {
      put({ type: 'account-secret', name: s.name, value: Buffer.from(s.value).toString('base64') });
      s.value.fill(0);
    }
    for (const c of contacts) put(contactToLine(c));
    for (const c of conversations) put(conversationToLine(c));
    for (const g of groups) put(groupToLine(g));

    let done = 0;
    onProgress?.({ phase: 'export', done, total });
    const statusOf = options.messageStatus ?? ((): undefined => undefined);
    // Messages written whose file follows in the attachment section (a tombstone's never does).
    const exportedFiles: string[] = [];
    // Own group texts written (not tombstones): their receipts follow the attachment section.
    const ownGroupTexts: string[] = [];
    for (const m of vault.iterateMessages()) {
      const status = statusOf(m.id);
      if (status === 'gone') continue;
      // A reply's line is encoded here (the worker writes only plain lines); a tombstone quotes nothing.
      const reply = status === undefined && withReplies ? replyOf?.(m.id) : undefined;
      if (status === 'deleted' || reply !== undefined || mayBeLong(m) || !sink.message(m)) append(encodeMessageLine(m, status === 'deleted', reply), 'message');
      if (status === undefined && withFiles.has(m.id)) exportedFiles.push(m.id);
      if (receipts && status === undefined && m.direction === 'out' && m.conversationId.startsWith('g')) ownGroupTexts.push(m.id);
      done++;
      if (done % PROGRESS_EVERY === 0 || done === 1) {
        onProgress?.({ phase: 'export', done, total: Math.max(total, done) });
        await sink.room();
        await yieldAndCheck(signal);
      } else if (done < WARM_UP_MESSAGES && done % WARM_UP_YIELD_EVERY === 0) {
        await yieldAndCheck(signal);
      }
    }
    let attachments = 0;
    if (source) {
      const withBytes = options.includeAttachmentBytes !== false;
      let chunks = 0;
      for (const messageId of exportedFiles) {
        const a = source.of(messageId);
        if (!a) continue;
        const included = withBytes && a.downloaded;
        put(attachmentToLine(a, included));
        attachments++;
        if (!included) continue;
        // One chunk at a time from the vault into the batch: memory stays flat whatever the size.
        const n = chunksOf(a.size);
        for (let i = 0; i < n; i++) {
          const plain = source.chunk(a.id, i);
          const expected = i < n - 1 ? ATTACHMENT_CHUNK_BYTES : a.size - (n - 1) * ATTACHMENT_CHUNK_BYTES;
          if (!plain || plain.length !== expected) throw new BackupError('IO', `A chunk of the attachment "${a.name}" is missing from the profile; export it with its attachments left out.`);
          append(encodeChunkLine(a.id, i, plain), 'attachment');
          plain.fill(0);
          await sink.room();
          if (++chunks % 16 === 0) await yieldAndCheck(signal);
        }
      }
    }
    let groupReceipts = 0;
    for (const messageId of ownGroupTexts) {
      const r = receipts?.receiptsOf?.(messageId);
      if (!r) continue;
      put(groupReceiptsToLine(r));
      groupReceipts++;
    }
    const counts = { contacts: contacts.length, conversations: conversations.length, messages: done, secrets: secrets.length, ...(v3 ? { attachments } : {}), ...withGroups, ...(receipts ? { groupReceipts } : {}) };
    put({ type: 'end', counts });
    if (signingKey) {
      const signature = signingKey.sign(await sink.digest());
      put({ type: 'signature', signature: Buffer.from(signature).toString('base64') });
    }
    throwIfAborted(signal);
    const bytes = await sink.end();
    // Flushed on the thread pool first: commit's own fsync (synchronous) then has next to nothing
    // left to write, instead of holding the main thread for the file's last dirty megabytes
    // (~110-135 ms at 1M, load 5-7).
    await fsyncAsync(out.fd);
    out.commit();
    onProgress?.({ phase: 'export', done, total: Math.max(total, done) });
    return { file: target, counts, bytes, includesIdentity: secretNames !== undefined, signer: signingKey?.publicKey };
  } catch (err) {
    // The sink stops (and zeroes the plaintext it held) before the descriptor is closed.
    await sink.dispose();
    out.abort();
    // File-system failures become BackupIoError; vault errors (VaultError) and ours pass through.
    if (isFsError(err)) throw new BackupIoError(`Export failed: ${err.message}`, { cause: err });
    throw err;
  }
}
