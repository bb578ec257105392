// The plaintext inside a Signal message: a small versioned structure, JSON-encoded, then padded
// to a multiple of PAD_BLOCK bytes so ciphertext sizes reveal only a coarse length class.
import { z } from 'zod';
import { GROUP_ID_RE, MAX_TEXT_CHARS } from '../../shared/api.ts';
import { isDisappearingSeconds } from '../../shared/api/disappearing.ts';
import { BadContent, UnsupportedContent } from '../../shared/protocol/e2e-errors.ts';

// One text limit everywhere (shared/api.ts): a longer text from a contact is refused as
// BadContent, acknowledged and dropped, never stored.
export { MAX_TEXT_CHARS };

export const CONTENT_VERSION = 1;
export const PAD_BLOCK = 160;
export const MAX_RECEIPT_IDS = 1000;
/**
 * Padded content size limit, both ways. The relay accepts envelopes up to 64 KiB; a PreKey
 * message adds about 1.8 KB (Kyber ciphertext, keys, MAC) to the content.
 */
export const MAX_CONTENT_BYTES = 56 * 1024;

const messageId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
/** One of the allowed timers (shared/api/disappearing.ts), so a stored timer is always one the UI knows. */
const disappearingTimer = z.number().int().refine(isDisappearingSeconds, 'not an allowed disappearing timer');

export const textContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('text'),
  id: messageId,
  /** ms since epoch, as the sender's clock said. */
  sentAt: z.number().int().nonnegative(),
  text: z.string().max(MAX_TEXT_CHARS),
  /** Content id of the quoted message (ours or theirs) when this one is a reply. Inside the
   * padded content, so the relay sees no difference between a reply and any other text. */
  replyTo: messageId.optional(),
  /** The disappearing timer (seconds) the message was sent under; absent when off (main/messenger/disappearing.ts). */
  timer: disappearingTimer.refine((n) => n > 0).optional(),
});

export const receiptContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('receipt'),
  type: z.enum(['delivered', 'read']),
  ids: z.array(messageId).min(1).max(MAX_RECEIPT_IDS),
});

/** A conversation's disappearing timer set by the sender (0 = off); both sides apply the same rule. */
export const timerContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('timer'),
  id: messageId,
  sentAt: z.number().int().nonnegative(),
  seconds: disappearingTimer,
});

/** Delete for everyone: the sender's own earlier messages (content ids), within 24 h of sending (main/messenger/delete-for-everyone.ts). */
export const MAX_DELETE_IDS = 100;
export const deleteContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('delete'),
  id: messageId,
  sentAt: z.number().int().nonnegative(),
  ids: z.array(messageId).min(1).max(MAX_DELETE_IDS),
});

/** base64url of 16 (blob id) or 32 (key, digest) bytes. */
const b64url = (bytes: number): z.ZodString => z.string().length(Math.ceil((bytes * 4) / 3)).regex(/^[A-Za-z0-9_-]+$/);
/** Most bytes of a file name or content type carried with an attachment. */
export const MAX_ATTACHMENT_NAME = 255;
// C0/C1 controls and bidi overrides could disguise a name ("photo\u202egpj.exe" shows as
// "photoexe.jpg"); slashes could reach a path. The sender's UI refuses them; a contact may not.
// eslint-disable-next-line no-control-regex
const UNSAFE_NAME_CHARS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069/\\]/g;
export function safeFileName(name: string): string {
  return name.replace(UNSAFE_NAME_CHARS, '_');
}

/**
 * A file (main/messenger/attachments.ts): its sealed bytes are a relay blob (docs/protocol.md
 * §9a); this carries what finds and opens them, and what the file is called. Padded as any content.
 */
export const attachmentContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('attachment'),
  id: messageId,
  sentAt: z.number().int().nonnegative(),
  blob: b64url(16),
  key: b64url(32),
  /** SHA-256 of the sealed stream. */
  digest: b64url(32),
  size: z.number().int().nonnegative().max(2 ** 40),
  type: z.string().max(MAX_ATTACHMENT_NAME),
  /** A contact's name is shown and offered as a download name: unsafe characters become '_'. */
  name: z.string().min(1).max(MAX_ATTACHMENT_NAME).transform(safeFileName),
  caption: z.string().max(MAX_TEXT_CHARS).optional(),
  /** The disappearing timer (seconds) it was sent under, as a text's. */
  timer: disappearingTimer.refine((n) => n > 0).optional(),
});

// Groups (main/messenger/groups.ts). A change and a sender key travel over the 1:1 session with
// each member; a group text is encrypted once with the sender's group chain (main/e2e/sender-keys.ts).
const groupId = z.string().regex(GROUP_ID_RE);
/** A signed membership change, checked by main/messenger/group-state.ts; `chain` (from the creation) or else `state` only for the member it adds. */
export const groupChangeContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('group-change'),
  change: z.record(z.string(), z.unknown()),
  state: z.record(z.string(), z.unknown()).optional(),
  chain: z.array(z.record(z.string(), z.unknown())).max(512).optional(),
});
/** The sender's current chain for the group (a libsignal SenderKeyDistributionMessage). */
export const senderKeyContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('sender-key'),
  groupId,
  distribution: z.base64().max(1024),
});
export const groupTextContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('group-text'),
  groupId,
  id: messageId,
  sentAt: z.number().int().nonnegative(),
  text: z.string().max(MAX_TEXT_CHARS),
  /** Content id of the quoted group text (any member's) when this one is a reply; inside the
   * padded content like a 1:1 reply's. Absent in texts from before replies (they still parse). */
  replyTo: messageId.optional(),
  /** The group's disappearing timer (seconds) it was sent under. */
  timer: disappearingTimer.refine((n) => n > 0).optional(),
});
/** A member's receipts for group texts of the author it goes to, over their 1:1 session (main/messenger/group-receipts.ts). */
export const groupReceiptContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('group-receipt'),
  groupId,
  type: z.enum(['delivered', 'read']),
  ids: z.array(messageId).min(1).max(MAX_RECEIPT_IDS),
});
/**
 * A member restored the group from a backup and asks for our current chain (answered with a
 * 'sender-key' only to a current member whose identity is accepted; main/messenger/group-rejoin.ts).
 */
export const senderKeyRequestContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('sender-key-request'),
  groupId,
});
export type SenderKeyRequestContent = z.infer<typeof senderKeyRequestContentSchema>;
/**
 * Delete for everyone in a group: the author's own earlier group texts (content ids), within 24 h
 * of sending; encrypted once with the author's chain like a group text (main/messenger/group-delete.ts).
 */
export const groupDeleteContentSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal('group-delete'),
  groupId,
  id: messageId,
  sentAt: z.number().int().nonnegative(),
  ids: z.array(messageId).min(1).max(MAX_DELETE_IDS),
});
export type GroupDeleteContent = z.infer<typeof groupDeleteContentSchema>;
export type GroupChangeContent = z.infer<typeof groupChangeContentSchema>;
export type SenderKeyContent = z.infer<typeof senderKeyContentSchema>;
export type GroupTextContent = z.infer<typeof groupTextContentSchema>;
export type GroupReceiptContent = z.infer<typeof groupReceiptContentSchema>;

export const contentSchema = z.discriminatedUnion('kind', [groupChangeContentSchema, senderKeyContentSchema, senderKeyRequestContentSchema, groupDeleteContentSchema, groupTextContentSchema, groupReceiptContentSchema, attachmentContentSchema, textContentSchema, receiptContentSchema, deleteContentSchema, timerContentSchema]);
export type TextContent = z.infer<typeof textContentSchema>;
export type ReceiptContent = z.infer<typeof receiptContentSchema>;
export type DeleteContent = z.infer<typeof deleteContentSchema>;
export type TimerContent = z.infer<typeof timerContentSchema>;
export type MessageContent = z.infer<typeof contentSchema>;
export type AttachmentContent = z.infer<typeof attachmentContentSchema>;
const KNOWN_KINDS = new Set(['group-change', 'sender-key', 'sender-key-request', 'group-delete', 'group-text', 'group-receipt', 'text', 'attachment', 'receipt', 'delete', 'timer']);

export function encodeContent(content: MessageContent): Uint8Array<ArrayBuffer> {
  return padJson(contentSchema.parse(content));
}

/**
 * A checked content's JSON with ISO/IEC 7816-4 padding to PAD_BLOCK (0x80 then zeros, at least
 * one byte), so every content kind's size says only its block count.
 */
export function padJson(checked: unknown): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify(checked));
  if (json.length + 1 > MAX_CONTENT_BYTES) throw new BadContent(`encodes to more than ${MAX_CONTENT_BYTES} bytes; split the text`);
  const padded = new Uint8Array(Math.ceil((json.length + 1) / PAD_BLOCK) * PAD_BLOCK);
  padded.set(json);
  padded[json.length] = 0x80;
  return padded;
}

/** padJson undone: the JSON value, not yet checked against any schema (BadContent if the bytes are not padded UTF-8 JSON). */
export function unpadJson(bytes: Uint8Array): unknown {
  if (bytes.length > MAX_CONTENT_BYTES) throw new BadContent(`larger than ${MAX_CONTENT_BYTES} bytes`);
  let end = bytes.length - 1;
  while (end >= 0 && bytes[end] === 0) end--;
  if (end < 0 || bytes[end] !== 0x80) throw new BadContent('bad padding');
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, end))) as unknown;
  } catch (cause) {
    throw new BadContent('not UTF-8 JSON', { cause });
  }
}

export function decodeContent(bytes: Uint8Array): MessageContent {
  const parsed = unpadJson(bytes);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BadContent('not an object');
  const { v, kind } = parsed as { v?: unknown; kind?: unknown };
  if (typeof v === 'number' && Number.isInteger(v) && v > CONTENT_VERSION) throw new UnsupportedContent(v);
  if (v !== CONTENT_VERSION) throw new BadContent(`bad version ${JSON.stringify(v)}`);
  if (typeof kind === 'string' && !KNOWN_KINDS.has(kind) && /^[a-z][a-z0-9-]{0,31}$/.test(kind)) throw new UnsupportedContent(v, kind);
  const result = contentSchema.safeParse(parsed);
  if (!result.success) throw new BadContent(z.prettifyError(result.error));
  return result.data;
}
