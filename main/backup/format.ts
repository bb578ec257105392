// The plaintext inside a backup: line-delimited JSON, one record per line, in a fixed order
// (docs/backup-format.md). Every line read back is validated with these schemas; anything
// else is BackupMalformed, and a newer format version is BackupUnsupportedVersion.
import { z } from 'zod';
import type { ContactRecord, ConversationRecord, NewMessage } from '../vault/api.ts';
import { Contact, ConversationSummary, Id, MAX_TEXT_CHARS, Message } from '../../shared/api.ts';
import { BackupMalformed, BackupUnsupportedVersion } from './errors.ts';
import { attachmentChunkLine, attachmentLine, type AttachmentChunkLine, type AttachmentLine } from './attachments.ts';
import { BACKUP_VERSION_WITH_GROUP_RECEIPTS, BACKUP_VERSION_WITH_GROUPS, groupLine, groupReceiptLine, type GroupLine, type GroupReceiptLine } from './groups.ts';

/** The version of a file holding a message line with `replyTo` (it may hold everything else too); the newest read. */
export const BACKUP_VERSION_WITH_REPLIES = 6;

export const BACKUP_FORMAT = 'ephemera-backup';
/**
 * Version 2 adds the signer and the signature line, and ties a contact's verified mark to a key;
 * version 3 the attachment section (attachments.ts). A file without attachments is still written
 * as version 2, byte for byte as before, so older readers keep reading it. Versions 1-2 are read.
 */
export const BACKUP_VERSION = 3;
/** What export writes when the file holds no attachment line. */
export const BACKUP_VERSION_WITHOUT_ATTACHMENTS = 2;
/** A longer line is refused before it is parsed, so a crafted file cannot exhaust memory. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

// What a backup holds is what the API can show: ids, handles, names and texts follow the renderer
// contract's own schemas (shared/api.ts; narrower than the vault's rules), so no import can
// leave a chat or the contact list failing the contract's output check.
const id = Id;
const epochMs = z.number().int().min(0).max(8_640_000_000_000_000);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const base64 = z
  .string()
  .max(1024 * 1024)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

/** libsignal serialized public key (33 bytes) in base64. */
const publicKey = z.string().regex(/^[A-Za-z0-9+/]{44}$/, 'not a 33-byte key in base64');

// `attachments`: version 3 and later only (absent means 0); `groups`: version 4 and later; `groupReceipts`: version 5 (absent means 0).
const counts = z.strictObject({ contacts: count, conversations: count, messages: count, secrets: count, attachments: count.optional(), groups: count.optional(), groupReceipts: count.optional() });
export type BackupCounts = z.infer<typeof counts>;

export const headerLine = z
  .strictObject({
    type: z.literal('header'),
    format: z.literal(BACKUP_FORMAT),
    version: z.union([z.literal(1), z.literal(2), z.literal(BACKUP_VERSION), z.literal(BACKUP_VERSION_WITH_GROUPS), z.literal(BACKUP_VERSION_WITH_GROUP_RECEIPTS), z.literal(BACKUP_VERSION_WITH_REPLIES)]),
    created: epochMs,
    /** At export start; informational (progress totals). The end line carries the exact counts. */
    counts,
    /** True when account-secret lines follow: whoever opens the file can act as this account. */
    includesIdentity: z.boolean(),
    /**
     * Version 2: the identity public key that signed this stream (a signature line then ends it).
     * Absent: unsigned (a profile without an identity, or any version-1 file).
     */
    signer: publicKey.optional(),
  })
  .refine((h) => h.version >= 2 || h.signer === undefined, { message: 'a version-1 header has no signer', path: ['signer'] });

export const accountSecretLine = z.strictObject({
  type: z.literal('account-secret'),
  name: z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/),
  value: base64,
});

export const contactLine = z.strictObject({
  type: z.literal('contact'),
  id,
  handle: Contact.shape.handle,
  displayName: Contact.shape.displayName,
  identityKey: base64.optional(),
  /** The identity key whose safety number the user compared; the contact is verified only while it is the contact's key. */
  verifiedKey: base64.optional(),
  identityChanged: z.boolean(),
  createdAt: epochMs,
});

/** Version 1 stored a bare flag, read as "verified for the identityKey on the same line". */
const contactLineV1 = contactLine.omit({ verifiedKey: true }).extend({ verified: z.boolean() });

export const conversationLine = z.strictObject({
  type: z.literal('conversation'),
  id,
  kind: z.literal('direct'),
  contactId: id,
  title: ConversationSummary.shape.title,
  lastActivity: epochMs,
  unread: count,
});

export const messageLine = z.strictObject({
  type: z.literal('message'),
  id,
  conversationId: id,
  direction: z.enum(['in', 'out']),
  sender: Message.shape.sender,
  sentAt: epochMs,
  receivedAt: epochMs,
  // The one text limit (shared/api.ts): a longer text would make its chat unreadable.
  text: z.string().max(MAX_TEXT_CHARS, `longer than ${MAX_TEXT_CHARS} characters, the limit of every message`),
  state: z.enum(['queued', 'sent', 'delivered', 'read', 'received', 'failed']),
  // Deleted for everyone: a tombstone (its text is empty). Absent otherwise, so a backup
  // without tombstones is byte for byte what an older writer made.
  deleted: z.literal(true).optional(),
  /**
   * Version 6: this message replies to another. The quoted message's `id`, a message line earlier
   * in the file in the same conversation; null: a reply whose quoted message is not in the file
   * (shown as a missing quote). Absent on a message that is not a reply (and on every tombstone).
   */
  replyTo: id.nullable().optional(),
});

export const endLine = z.strictObject({ type: z.literal('end'), counts });

/** Version 2, signed streams only: the last line, after `end` (signature.ts says what is signed). */
export const signatureLine = z.strictObject({ type: z.literal('signature'), signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'not a 64-byte signature in base64') });

export type HeaderLine = z.infer<typeof headerLine>;
export type AccountSecretLine = z.infer<typeof accountSecretLine>;
export type ContactLine = z.infer<typeof contactLine>;
export type ConversationLine = z.infer<typeof conversationLine>;
export type MessageLine = z.infer<typeof messageLine>;
export type EndLine = z.infer<typeof endLine>;
export type SignatureLine = z.infer<typeof signatureLine>;
export type BackupLine = HeaderLine | AccountSecretLine | ContactLine | ConversationLine | GroupLine | MessageLine | AttachmentLine | AttachmentChunkLine | GroupReceiptLine | EndLine | SignatureLine;

const bodyLine = z.discriminatedUnion('type', [accountSecretLine, contactLine, conversationLine, groupLine, messageLine, attachmentLine, attachmentChunkLine, groupReceiptLine, endLine, signatureLine]);
const bodyLineV1 = z.discriminatedUnion('type', [accountSecretLine, contactLineV1, conversationLine, messageLine, endLine]);
/** Just enough of a header to tell a newer version from a broken file. */
const headerProbe = z.object({ type: z.literal('header'), format: z.literal(BACKUP_FORMAT), version: z.number().int() });

/**
 * Deepest nesting a line may have: well beyond the format's own (a group's log is the deepest),
 * and shallow enough that JSON.parse stays linear. Deep nesting costs V8's JSON.parse about
 * 0.25 us per character (a 14 MB line of '[' then ']' held the thread 15 s), against ~3 ns for
 * ordinary lines, so it is refused before parsing.
 */
export const MAX_JSON_DEPTH = 64;

/** Whether `text` nests arrays and objects deeper than MAX_JSON_DEPTH (outside strings). Linear; early out. */
function nestsTooDeep(text: string): boolean {
  // The common line (a message whose text has no brackets) has one '{': two native searches settle it.
  if (text.indexOf('[') < 0 && text.indexOf('{', 1) < 0) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next unit is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

function parseJson(text: string, lineNo: number): unknown {
  if (nestsTooDeep(text)) throw new BackupMalformed(`line ${lineNo} nests deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new BackupMalformed(`line ${lineNo} is not JSON`, { cause });
  }
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(line)'}: ${i.message}`)
    .join('; ');
}

export function parseHeaderLine(text: string): HeaderLine {
  const value = parseJson(text, 1);
  const probe = headerProbe.safeParse(value);
  if (!probe.success) throw new BackupMalformed('the first line is not an Ephemera backup header');
  if (probe.data.version > BACKUP_VERSION_WITH_REPLIES) throw new BackupUnsupportedVersion(probe.data.version, BACKUP_VERSION_WITH_REPLIES);
  const parsed = headerLine.safeParse(value);
  if (!parsed.success) throw new BackupMalformed(`line 1 (header): ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** shared/api.ts `Id`, written out for the hot path (the property test holds them in step). */
const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
const isId = (v: unknown): boolean => typeof v === 'string' && ID_PATTERN.test(v);
const isEpochMs = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 8_640_000_000_000_000;
const MESSAGE_STATES: ReadonlySet<unknown> = new Set(messageLine.shape.state.options);
/** The keys of a message line that is neither a tombstone nor a reply (the fast path; those lines go through the schema). */
const MESSAGE_KEYS = Object.keys(messageLine.shape).length - 2;

/**
 * The import hot path: true only for a value that `messageLine` accepts (the same rules, written
 * out; a property test holds them in step). Anything else goes through zod, which decides and
 * names the problem.
 */
export function isValidMessageLine(v: unknown): v is MessageLine {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const m = v as Record<string, unknown>;
  return (
    m.type === 'message' &&
    Object.keys(m).length === MESSAGE_KEYS &&
    isId(m.id) &&
    isId(m.conversationId) &&
    (m.direction === 'in' || m.direction === 'out') &&
    isId(m.sender) &&
    isEpochMs(m.sentAt) &&
    isEpochMs(m.receivedAt) &&
    typeof m.text === 'string' &&
    m.text.length <= MAX_TEXT_CHARS &&
    MESSAGE_STATES.has(m.state)
  );
}

/** A body line of a stream of `version` (the header's), in the current shape (a version-1 contact is converted). */
export function parseBodyLine(text: string, lineNo: number, version: HeaderLine['version'] = BACKUP_VERSION): Exclude<BackupLine, HeaderLine> {
  const value = parseJson(text, lineNo);
  if (isValidMessageLine(value)) return value;
  if (version === 1) {
    const v1 = bodyLineV1.safeParse(value);
    if (!v1.success) throw new BackupMalformed(`line ${lineNo}: ${describeIssues(v1.error)}`);
    if (v1.data.type !== 'contact') return v1.data;
    const { verified, ...rest } = v1.data;
    return verified && rest.identityKey !== undefined ? { ...rest, verifiedKey: rest.identityKey } : rest;
  }
  const parsed = bodyLine.safeParse(value);
  if (!parsed.success) throw new BackupMalformed(`line ${lineNo}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** One line of the stream, newline included. */
export function encodeLine(line: BackupLine): string {
  return `${JSON.stringify(line)}\n`;
}

export function contactToLine(c: ContactRecord): ContactLine {
  const line: ContactLine = {
    type: 'contact',
    id: c.id,
    handle: c.handle,
    displayName: c.displayName,
    identityChanged: c.identityChanged,
    createdAt: c.createdAt,
  };
  if (c.identityKey) line.identityKey = Buffer.from(c.identityKey).toString('base64');
  if (c.verifiedKey) line.verifiedKey = Buffer.from(c.verifiedKey).toString('base64');
  return line;
}

/**
 * `trusted`: the stream is signed by the profile's own identity. Otherwise its verified marks are
 * claims by whoever wrote the file, and are dropped (the identity key stays, unverified: a
 * different key met later is then an identity change the user must accept).
 */
export function lineToContact(l: ContactLine, options: { trusted: boolean }): ContactRecord {
  const c: ContactRecord = {
    id: l.id,
    handle: l.handle,
    displayName: l.displayName,
    identityChanged: l.identityChanged,
    createdAt: l.createdAt,
  };
  if (l.identityKey !== undefined) c.identityKey = new Uint8Array(Buffer.from(l.identityKey, 'base64'));
  if (l.verifiedKey !== undefined && options.trusted) c.verifiedKey = new Uint8Array(Buffer.from(l.verifiedKey, 'base64'));
  return c;
}

export function conversationToLine(c: ConversationRecord): ConversationLine {
  return {
    type: 'conversation',
    id: c.id,
    kind: c.kind,
    contactId: c.contactId,
    title: c.title,
    lastActivity: c.lastActivity,
    unread: c.unread,
  };
}

export function lineToConversation(l: ConversationLine): ConversationRecord {
  return { id: l.id, kind: l.kind, contactId: l.contactId, title: l.title, lastActivity: l.lastActivity, unread: l.unread };
}

/** What a message is, alike in a backup line, an opened backup and the API's view of it (its reply link apart: the API shows a quote instead). */
export type MessageFields = Omit<MessageLine, 'type' | 'replyTo'>;

/** Exactly the fields of MessageFields (a stored message carries more, e.g. its orderKey and seq). */
export function messageFields(m: MessageFields): MessageFields {
  const f: MessageFields = { id: m.id, conversationId: m.conversationId, direction: m.direction, sender: m.sender, sentAt: m.sentAt, receivedAt: m.receivedAt, text: m.text, state: m.state };
  if (m.deleted === true) f.deleted = true;
  return f;
}

/** `replyTo`: the reply link to write (the quoted id, or null when it is not in the file); never on a tombstone. */
export function messageToLine(m: Required<NewMessage>, deleted = false, replyTo?: string | null): MessageLine {
  if (deleted) return { type: 'message', ...messageFields({ ...m, text: '', deleted: true }) };
  return replyTo === undefined ? { type: 'message', ...messageFields(m) } : { type: 'message', ...messageFields(m), replyTo };
}

const q = JSON.stringify;

/**
 * The export hot path: the same text as encodeLine(messageToLine(m)) (a property test holds
 * them equal), about 3x faster because no intermediate object is built.
 */
export function encodeMessageLine(m: Required<NewMessage>, deleted = false, replyTo?: string | null): string {
  if (deleted || replyTo !== undefined) return encodeLine(messageToLine(m, deleted, replyTo));
  return `{"type":"message","id":${q(m.id)},"conversationId":${q(m.conversationId)},"direction":${q(m.direction)},"sender":${q(m.sender)},"sentAt":${q(m.sentAt)},"receivedAt":${q(m.receivedAt)},"text":${q(m.text)},"state":${q(m.state)}}\n`;
}

/** The stored message of a line; a tombstone's text is empty whatever the line says. */
export function lineToMessage(l: MessageLine): Required<NewMessage> {
  return {
    id: l.id,
    conversationId: l.conversationId,
    direction: l.direction,
    sender: l.sender,
    sentAt: l.sentAt,
    receivedAt: l.receivedAt,
    text: l.deleted === true ? '' : l.text,
    state: l.state,
  };
}
