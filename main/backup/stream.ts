// Plaintext stream <-> validated records. The reader splits on '\n' bytes (never inside a
// UTF-8 sequence), parses each line with the zod schemas in format.ts, and checks the
// stream's structure: header first, then sections in order, references resolve, and an end
// line whose counts match what was read. Anything else is BackupMalformed. A signed stream
// (version 2 with a signer) must end with a signature line that verifies over every byte
// before it; otherwise BackupSignatureInvalid, raised only once the whole stream was read.
import {
  BACKUP_VERSION_WITH_REPLIES,
  MAX_LINE_BYTES,
  parseBodyLine,
  parseHeaderLine,
  type AccountSecretLine,
  type BackupCounts,
  type ContactLine,
  type ConversationLine,
  type HeaderLine,
  type MessageLine,
} from './format.ts';
import { BackupMalformed, BackupSignatureInvalid } from './errors.ts';
import { StreamHash, verifySignature } from './signature.ts';
import { AttachmentSectionChecker, type AttachmentLine } from './attachments.ts';
import { BACKUP_VERSION_WITH_GROUP_RECEIPTS, BACKUP_VERSION_WITH_GROUPS, type GroupLine, type GroupReceiptLine } from './groups.ts';

/**
 * A reply link's form (docs/backup-format.md "Replies"): only in a version-6 file, never on a
 * tombstone (a tombstone quotes nothing), never to itself. Whether the quoted message is earlier
 * in the same conversation is the importer's check (it drops a link that is not, and says so).
 */
function checkReplyLink(line: MessageLine, version: number, lineNo: number): void {
  if (version < BACKUP_VERSION_WITH_REPLIES) throw new BackupMalformed(`line ${lineNo}: a reply link in a version-${version} backup`);
  if (line.deleted === true) throw new BackupMalformed(`line ${lineNo}: a reply link on a tombstone`);
  if (line.replyTo === line.id) throw new BackupMalformed(`line ${lineNo}: a message that replies to itself`);
}

const NEWLINE = 0x0a;
// ignoreBOM: a U+FEFF is kept (and then is not JSON), never silently dropped.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** After a block failed to decode: the number of its first line that is not valid UTF-8. */
function badLineError(block: Uint8Array, firstLineNo: number): BackupMalformed {
  let start = 0;
  for (let lineNo = firstLineNo; ; lineNo++) {
    const nl = block.indexOf(NEWLINE, start);
    const piece = block.subarray(start, nl < 0 ? block.length : nl);
    try {
      decoder.decode(piece);
    } catch (cause) {
      return new BackupMalformed(`line ${lineNo} is not valid UTF-8`, { cause });
    }
    if (nl < 0) return new BackupMalformed(`line ${firstLineNo} is not valid UTF-8`);
    start = nl + 1;
  }
}

function checkLength(line: string, lineNo: number): void {
  // A string of n UTF-16 units is at most 3n UTF-8 bytes, so only long lines are measured.
  if (line.length * 3 > MAX_LINE_BYTES && Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) {
    throw new BackupMalformed(`line ${lineNo} is longer than ${MAX_LINE_BYTES} bytes`);
  }
}

/**
 * Complete lines (without '\n') from plaintext chunks; a trailing partial line is an error.
 * Each chunk's complete lines are decoded with one UTF-8 call, then split: a '\n' byte never
 * occurs inside a multi-byte sequence, so this equals decoding line by line.
 */
export function* splitLines(chunks: Iterable<Uint8Array>, hash?: StreamHash): Generator<string, void, undefined> {
  let carry: Uint8Array[] = [];
  let carryBytes = 0;
  let lineNo = 0;
  for (const chunk of chunks) {
    const lastNl = chunk.lastIndexOf(NEWLINE);
    if (lastNl < 0) {
      carryBytes += chunk.length;
      if (carryBytes > MAX_LINE_BYTES) throw new BackupMalformed(`line ${lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes`);
      if (chunk.length > 0) carry.push(Uint8Array.from(chunk));
      continue;
    }
    const head = chunk.subarray(0, lastNl);
    if (carry.length > 0) {
      // The carried start of a line plus the chunk's first line, checked before concatenating.
      const firstNl = chunk.indexOf(NEWLINE);
      if (carryBytes + firstNl > MAX_LINE_BYTES) throw new BackupMalformed(`line ${lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes`);
    }
    const block = carry.length === 0 ? head : Buffer.concat([...carry, head]);
    carry = [];
    carryBytes = 0;
    let text: string;
    try {
      text = decoder.decode(block);
    } catch {
      throw badLineError(block, lineNo + 1);
    }
    hash?.addLines(block);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const line = nl < 0 ? text.slice(start) : text.slice(start, nl);
      lineNo++;
      checkLength(line, lineNo);
      yield line;
      if (nl < 0) break;
      start = nl + 1;
    }
    if (lastNl + 1 < chunk.length) {
      const rest = chunk.subarray(lastNl + 1);
      carryBytes = rest.length;
      carry.push(Uint8Array.from(rest));
    }
  }
  if (carryBytes > 0) throw new BackupMalformed('the stream ends in the middle of a line (no end line)');
}

export type BackupRecord =
  | { kind: 'header'; line: HeaderLine }
  | { kind: 'account-secret'; line: AccountSecretLine }
  | { kind: 'contact'; line: ContactLine }
  | { kind: 'conversation'; line: ConversationLine }
  | { kind: 'group'; line: GroupLine }
  | { kind: 'message'; line: MessageLine }
  | { kind: 'attachment'; line: AttachmentLine }
  /** One chunk of the attachment named by the last attachment record, checked (place and size) and decoded. */
  | { kind: 'attachment-chunk'; attachmentId: string; index: number; data: Uint8Array }
  | { kind: 'group-receipt'; line: GroupReceiptLine }
  | { kind: 'end'; counts: BackupCounts }
  /** Last, only for a signed stream: the signature over everything before it verified under `signer`. */
  | { kind: 'signed'; signer: Uint8Array };

const SECTION_ORDER = ['header', 'account-secret', 'contact', 'conversation', 'group', 'message', 'attachment', 'group-receipt', 'end', 'signature'] as const;
/** A line type's section: an attachment's chunk lines belong to the attachment section. */
const sectionOf = (type: string): number => SECTION_ORDER.indexOf((type === 'attachment-chunk' ? 'attachment' : type) as (typeof SECTION_ORDER)[number]);

/**
 * Validated records in file order. The stream is complete only once the generator has
 * finished (for a signed stream, after the 'signed' record); a consumer that must not act on
 * partial or unauthenticated input (import) reads to the end first. `hash` is the StreamHash
 * that splitLines fed with the same bytes; without one, the line strings are hashed here.
 */
export function* readRecords(lines: Iterable<string>, hash?: StreamHash): Generator<BackupRecord, void, undefined> {
  const ownHash = hash === undefined ? new StreamHash() : undefined;
  let signature: string | undefined;
  let lineNo = 0;
  let section = 0;
  let header: HeaderLine | undefined;
  let ended = false;
  const contactIds = new Set<string>();
  const conversationIds = new Set<string>();
  const secretNames = new Set<string>();
  const groupIds = new Set<string>();
  const receiptIds = new Set<string>();
  let messages = 0;
  const attachments = new AttachmentSectionChecker();
  for (const text of lines) {
    lineNo++;
    ownHash?.addLine(text);
    if (signature !== undefined || (ended && header?.signer === undefined)) throw new BackupMalformed(`line ${lineNo}: data after the end line`);
    if (!header) {
      header = parseHeaderLine(text);
      if (header.signer === undefined) (hash ?? ownHash)?.stop();
      yield { kind: 'header', line: header };
      continue;
    }
    const line = parseBodyLine(text, lineNo, header.version);
    const s = sectionOf(line.type);
    if (s < section) throw new BackupMalformed(`line ${lineNo}: a ${line.type} line after the ${SECTION_ORDER[section]} section`);
    section = s;
    switch (line.type) {
      case 'account-secret':
        if (!header.includesIdentity) throw new BackupMalformed(`line ${lineNo}: an account secret in a backup without identity`);
        if (secretNames.has(line.name)) throw new BackupMalformed(`line ${lineNo}: duplicate account secret ${line.name}`);
        secretNames.add(line.name);
        yield { kind: 'account-secret', line };
        break;
      case 'contact':
        if (contactIds.has(line.id)) throw new BackupMalformed(`line ${lineNo}: duplicate contact id`);
        contactIds.add(line.id);
        yield { kind: 'contact', line };
        break;
      case 'conversation':
        if (conversationIds.has(line.id)) throw new BackupMalformed(`line ${lineNo}: duplicate conversation id`);
        conversationIds.add(line.id);
        yield { kind: 'conversation', line };
        break;
      case 'group':
        if (header.version < BACKUP_VERSION_WITH_GROUPS) throw new BackupMalformed(`line ${lineNo}: a group line in a version-${header.version} backup`);
        if (groupIds.has(line.id)) throw new BackupMalformed(`line ${lineNo}: duplicate group id`);
        groupIds.add(line.id);
        yield { kind: 'group', line };
        break;
      case 'message':
        messages++;
        if (line.replyTo !== undefined) checkReplyLink(line, header.version, lineNo);
        yield { kind: 'message', line };
        break;
      case 'attachment':
      case 'attachment-chunk':
        // An older reader refuses these lines; a file holding them says so by its version.
        if (header.version < 3) throw new BackupMalformed(`line ${lineNo}: an ${line.type} line in a version-${header.version} backup`);
        if (line.type === 'attachment') {
          attachments.attachment(line, lineNo);
          yield { kind: 'attachment', line };
        } else {
          yield { kind: 'attachment-chunk', attachmentId: line.attachment, index: line.index, data: attachments.chunk(line, lineNo) };
        }
        break;
      case 'group-receipt':
        if (header.version < BACKUP_VERSION_WITH_GROUP_RECEIPTS) throw new BackupMalformed(`line ${lineNo}: a group-receipt line in a version-${header.version} backup`);
        if (receiptIds.has(line.messageId)) throw new BackupMalformed(`line ${lineNo}: duplicate group receipts of one message`);
        attachments.finish(lineNo); // the file before must be complete
        receiptIds.add(line.messageId);
        yield { kind: 'group-receipt', line };
        break;
      case 'end': {
        attachments.finish(lineNo);
        const actual = { contacts: contactIds.size, conversations: conversationIds.size, messages, secrets: secretNames.size, ...(attachments.count > 0 ? { attachments: attachments.count } : {}), ...(groupIds.size > 0 ? { groups: groupIds.size } : {}), ...(receiptIds.size > 0 ? { groupReceipts: receiptIds.size } : {}) };
        const c = line.counts;
        if (c.contacts !== actual.contacts || c.conversations !== actual.conversations || c.messages !== actual.messages || c.secrets !== actual.secrets || (c.attachments ?? 0) !== attachments.count || (c.groups ?? 0) !== groupIds.size || (c.groupReceipts ?? 0) !== receiptIds.size) {
          throw new BackupMalformed(`the end line's counts ${JSON.stringify(c)} do not match the content ${JSON.stringify(actual)}`);
        }
        ended = true;
        yield { kind: 'end', counts: actual };
        break;
      }
      case 'signature':
        if (header.signer === undefined) throw new BackupMalformed(`line ${lineNo}: a signature in a backup whose header names no signer`);
        if (!ended) throw new BackupMalformed(`line ${lineNo}: the signature line comes before the end line`);
        signature = line.signature;
        break;
    }
  }
  if (!header) throw new BackupMalformed('the backup is empty');
  if (!ended) throw new BackupMalformed('the stream has no end line (incomplete export)');
  if (header.signer !== undefined) {
    if (signature === undefined) throw new BackupSignatureInvalid('the header names a signer but the signature line is missing');
    // The signature line is the last line, so the hash now covers exactly the bytes before it.
    const digest = (hash ?? ownHash)!.beforeLastLine();
    const signer = new Uint8Array(Buffer.from(header.signer, 'base64'));
    if (!verifySignature(signer, digest, Buffer.from(signature, 'base64'))) {
      throw new BackupSignatureInvalid('the signature does not match the content (changed after it was signed, or not made by the key it names)');
    }
    yield { kind: 'signed', signer };
  }
}
