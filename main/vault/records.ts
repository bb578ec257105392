// Serialization of sealed record bodies and the associated data that binds each sealed blob
// to its table, its row id (and, for messages, conversation and ordering key) and the record
// format version. Changing a record's layout means a new RECORD_VERSION and a migration that
// re-seals the rows.
import { z } from 'zod';
import type { ContactRecord, ConversationRecord, MessageDirection, MessageState, AppendedMessage } from './api.ts';
import { MAX_TEXT_CHARS } from '../../shared/api.ts';
import { VaultCorrupt } from './errors.ts';
import { keyBuffer } from '../../shared/protocol/secret-bytes.ts';

export const RECORD_VERSION = 1;

const ID_PATTERN = /^[\x21-\x7e]{1,256}$/u;

/** Ids are opaque printable ASCII (no spaces, no NUL) so the NUL-separated AD is unambiguous. */
export function checkId(id: unknown, what: string): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new TypeError(`${what} must be 1-256 printable ASCII characters without spaces`);
  }
  return id;
}

export function checkTimestamp(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`${what} must be a non-negative integer (ms)`);
  return value;
}

export function ad(table: string, ...parts: (string | number)[]): Buffer {
  return Buffer.from(`ephemera-vault\0${table}\0${parts.join('\0')}\0r${RECORD_VERSION}`, 'latin1');
}

export const DIRECTIONS: readonly MessageDirection[] = ['in', 'out'];
export const STATES: readonly MessageState[] = ['queued', 'sent', 'delivered', 'read', 'received', 'failed'];

export function checkState(state: unknown): MessageState {
  if (!STATES.includes(state as MessageState)) throw new TypeError(`unknown message state ${String(state)}`);
  return state as MessageState;
}

export function checkNewMessage(m: AppendedMessage): void {
  if (typeof m !== 'object' || m === null) throw new TypeError('message must be an object');
  checkId(m.id, 'message id');
  checkId(m.conversationId, 'conversation id');
  if (!DIRECTIONS.includes(m.direction)) throw new TypeError('direction must be "in" or "out"');
  if (typeof m.sender !== 'string') throw new TypeError('sender must be a string');
  checkTimestamp(m.sentAt, 'sentAt');
  if (m.receivedAt !== undefined) checkTimestamp(m.receivedAt, 'receivedAt');
  if (typeof m.text !== 'string') throw new TypeError('text must be a string');
  // The vault is the last gate of every path in (send, receive, backup import): nothing longer
  // than the API's limit is stored, so no history page can fail the contract's output check.
  if (m.text.length > MAX_TEXT_CHARS) throw new RangeError(`text must be at most ${MAX_TEXT_CHARS} characters`);
  checkState(m.state);
  if (m.contentId !== undefined) checkId(m.contentId, 'content id');
}

/** The sealed part of a message: everything except id, conversation, orderKey, seq. */
export interface MessageBody {
  direction: MessageDirection;
  sender: string;
  sentAt: number;
  receivedAt: number;
  text: string;
  state: MessageState;
  contentId?: string;
}

export function encodeMessage(m: MessageBody): Buffer {
  return Buffer.from(JSON.stringify([m.direction, m.sender, m.sentAt, m.receivedAt, m.text, m.state]), 'utf8');
}

export function decodeMessage(plain: Buffer): MessageBody {
  let v: unknown;
  try {
    v = JSON.parse(plain.toString('utf8'));
  } catch (err) {
    throw new VaultCorrupt('message record is not decodable', { cause: err });
  }
  if (
    !Array.isArray(v) ||
    v.length !== 6 ||
    !DIRECTIONS.includes(v[0] as MessageDirection) ||
    typeof v[1] !== 'string' ||
    typeof v[2] !== 'number' ||
    typeof v[3] !== 'number' ||
    typeof v[4] !== 'string' ||
    !STATES.includes(v[5] as MessageState)
  ) {
    throw new VaultCorrupt('message record has the wrong shape');
  }
  return { direction: v[0] as MessageDirection, sender: v[1], sentAt: v[2], receivedAt: v[3], text: v[4], state: v[5] as MessageState };
}

/**
 * One message inside a segment, as stored: `[id, orderKey, direction, sender, sentAt,
 * receivedAt, text, state, contentId?]`; null marks a deleted slot (slots never move). Kept as
 * the stored tuple (no per-entry object) because bulk reads decode every entry of every segment.
 * The content id (a ninth element, only when there is one) rides in the sealed entry instead of a
 * sealed kv entry of its own: no key tag, seal or kv row per received text. Entries written
 * before it have eight elements and read as having none.
 */
export type SegmentEntry =
  | readonly [id: string, orderKey: number, direction: MessageDirection, sender: string, sentAt: number, receivedAt: number, text: string, state: MessageState, contentId?: string]
  | null;

export function segmentEntry(id: string, orderKey: number, b: MessageBody): SegmentEntry {
  return b.contentId === undefined
    ? [id, orderKey, b.direction, b.sender, b.sentAt, b.receivedAt, b.text, b.state]
    : [id, orderKey, b.direction, b.sender, b.sentAt, b.receivedAt, b.text, b.state, b.contentId];
}

/**
 * A segment is the sealed unit for message bodies: up to a few dozen messages of one
 * conversation appended in one batch. Each entry repeats its message id and ordering key, so a
 * row pointing at the wrong segment or slot is detected when the entry does not match.
 */
export function encodeSegment(entries: readonly SegmentEntry[]): Buffer {
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

function isDirection(v: unknown): v is MessageDirection {
  return (DIRECTIONS as readonly unknown[]).includes(v);
}

function isState(v: unknown): v is MessageState {
  return (STATES as readonly unknown[]).includes(v);
}

export function decodeSegment(plain: Buffer): SegmentEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(plain.toString('utf8'));
  } catch (err) {
    throw new VaultCorrupt('message segment is not decodable', { cause: err });
  }
  if (!Array.isArray(v)) throw new VaultCorrupt('message segment has the wrong shape');
  // Validated in place: the parsed arrays are the entries (no copy per message).
  for (const e of v as unknown[]) {
    if (e === null) continue;
    if (
      !Array.isArray(e) ||
      (e.length !== 8 && (e.length !== 9 || typeof e[8] !== 'string' || !ID_PATTERN.test(e[8]))) ||
      typeof e[0] !== 'string' ||
      typeof e[1] !== 'number' ||
      !isDirection(e[2]) ||
      typeof e[3] !== 'string' ||
      typeof e[4] !== 'number' ||
      typeof e[5] !== 'number' ||
      typeof e[6] !== 'string' ||
      !isState(e[7])
    ) {
      throw new VaultCorrupt('message segment entry has the wrong shape');
    }
  }
  return v as SegmentEntry[];
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function decodeJson<T>(plain: Buffer, schema: z.ZodType<T>, what: string): T {
  let v: unknown;
  try {
    v = JSON.parse(plain.toString('utf8'));
  } catch (err) {
    throw new VaultCorrupt(`${what} record is not decodable`, { cause: err });
  }
  const r = schema.safeParse(v);
  if (!r.success) throw new VaultCorrupt(`${what} record has the wrong shape`);
  return r.data;
}

const contactBody = z.object({
  handle: z.string(),
  displayName: z.string(),
  identityKey: z.string().optional(),
  verifiedKey: z.string().optional(),
  /** Rows written before verifiedKey existed: a flag meaning "verified for identityKey". */
  verified: z.boolean().optional(),
  identityChanged: z.boolean(),
  createdAt: z.number(),
});

export function checkContact(c: ContactRecord): void {
  if (typeof c !== 'object' || c === null) throw new TypeError('contact must be an object');
  checkId(c.id, 'contact id');
  if (typeof c.handle !== 'string' || typeof c.displayName !== 'string') throw new TypeError('contact handle and displayName must be strings');
  if (c.identityKey !== undefined && !(c.identityKey instanceof Uint8Array)) throw new TypeError('identityKey must be bytes');
  if (c.verifiedKey !== undefined && !(c.verifiedKey instanceof Uint8Array)) throw new TypeError('verifiedKey must be bytes');
  if (typeof c.identityChanged !== 'boolean') throw new TypeError('identityChanged must be a boolean');
  checkTimestamp(c.createdAt, 'createdAt');
}

export function encodeContact(c: ContactRecord): Buffer {
  return encodeJson({
    handle: c.handle,
    displayName: c.displayName,
    identityKey: c.identityKey ? Buffer.from(c.identityKey).toString('base64') : undefined,
    verifiedKey: c.verifiedKey ? Buffer.from(c.verifiedKey).toString('base64') : undefined,
    identityChanged: c.identityChanged,
    createdAt: c.createdAt,
  });
}

export function decodeContact(id: string, plain: Buffer): ContactRecord {
  const b = decodeJson(plain, contactBody, 'contact');
  const out: ContactRecord = {
    id,
    handle: b.handle,
    displayName: b.displayName,
    identityChanged: b.identityChanged,
    createdAt: b.createdAt,
  };
  if (b.identityKey !== undefined) out.identityKey = new Uint8Array(Buffer.from(b.identityKey, 'base64'));
  const verifiedKey = b.verifiedKey ?? (b.verified === true ? b.identityKey : undefined);
  if (verifiedKey !== undefined) out.verifiedKey = new Uint8Array(Buffer.from(verifiedKey, 'base64'));
  return out;
}

/**
 * A contact is verified when the key the user compared is the contact's identity key now, and
 * no change of it is waiting: a verified mark names one key and never carries over to another.
 */
export function isVerified(c: ContactRecord): boolean {
  return (
    !c.identityChanged &&
    c.verifiedKey !== undefined &&
    c.identityKey !== undefined &&
    c.verifiedKey.length === c.identityKey.length &&
    Buffer.compare(c.verifiedKey, c.identityKey) === 0
  );
}

const conversationBody = z.object({
  kind: z.literal('direct'),
  contactId: z.string(),
  title: z.string(),
  unread: z.number(),
});

export function checkConversation(c: ConversationRecord): void {
  if (typeof c !== 'object' || c === null) throw new TypeError('conversation must be an object');
  checkId(c.id, 'conversation id');
  if (c.kind !== 'direct') throw new TypeError('conversation kind must be "direct"');
  if (typeof c.contactId !== 'string' || typeof c.title !== 'string') throw new TypeError('contactId and title must be strings');
  checkTimestamp(c.lastActivity, 'lastActivity');
  if (!Number.isSafeInteger(c.unread) || c.unread < 0) throw new TypeError('unread must be a non-negative integer');
}

export function encodeConversation(c: ConversationRecord): Buffer {
  return encodeJson({ kind: c.kind, contactId: c.contactId, title: c.title, unread: c.unread });
}

export function decodeConversation(id: string, lastActivity: number, plain: Buffer): ConversationRecord {
  const b = decodeJson(plain, conversationBody, 'conversation');
  return { id, kind: b.kind, contactId: b.contactId, title: b.title, lastActivity, unread: b.unread };
}

/**
 * kv and account-secret values: the clear key travels inside the seal so kvKeys can list them.
 * The caller zeroes the result once sealed (the value may be a key).
 */
export function encodeKeyed(key: string, value: Uint8Array): Buffer {
  const k = Buffer.from(key, 'utf8');
  const out = keyBuffer(4 + k.length + value.length);
  out.writeUInt32BE(k.length, 0);
  k.copy(out, 4);
  out.set(value, 4 + k.length);
  return out;
}

/**
 * Takes over `plain` (an opened record) and zeroes it: values are often keys (the permanent key,
 * libsignal records), so the value comes back outside the V8 heap, for the caller to zero.
 */
export function decodeKeyed(plain: Buffer): { key: string; value: Uint8Array } {
  try {
    if (plain.length < 4) throw new VaultCorrupt('keyed record too short');
    const len = plain.readUInt32BE(0);
    if (4 + len > plain.length) throw new VaultCorrupt('keyed record has a bad length');
    // A plain Uint8Array (the API's type), on an ArrayBuffer outside the V8 heap like keyBuffer.
    const value = new Uint8Array(new ArrayBuffer(plain.length - 4 - len));
    value.set(plain.subarray(4 + len));
    return { key: plain.subarray(4, 4 + len).toString('utf8'), value };
  } finally {
    plain.fill(0);
  }
}

export const MAX_PAGE = 10_000;

/** A page size: an integer from 1 to MAX_PAGE. */
export function checkLimit(limit: unknown): number {
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new RangeError(`limit must be an integer from 1 to ${MAX_PAGE}`);
  }
  return limit;
}
