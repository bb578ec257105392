// Identifiers the messenger chooses. Contact ids are random (never derived from handles).
// Stored message ids and relay idempotency keys that derive from E2E content ids are keyed
// hashes, so a contact cannot pick another conversation's id, cannot write chosen bytes into our
// plaintext columns, and a seized relay's idempotency keys do not match a seized laptop's ids.
// The content ids themselves are kept sealed (kv) where receipts need them.
import { createHmac, randomBytes } from 'node:crypto';
import type { ContactRecord, StoredMessage } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import { RandomPool } from '../vault/random-pool.ts';

export function newContactId(): string {
  return `c${randomBytes(12).toString('hex')}`;
}

export function conversationIdOf(contactId: string): string {
  return `d${contactId.slice(1)}`;
}

export function contactIdOfConversation(conversationId: string): string | undefined {
  return /^d[0-9a-f]{24}$/.test(conversationId) ? `c${conversationId.slice(1)}` : undefined;
}

// Random ids come from a pool of CSPRNG bytes (a randomBytes call each was ~25 µs of the main
// thread per text under the profiler, more than the hex it makes). These ids are not secrets.
const idBytes = new RandomPool();

function randomHex16(): string {
  return idBytes.take(16).toString('hex');
}

/** The id inside the E2E content of a message we send: 32 hex characters. */
export function newContentId(): string {
  return randomHex16();
}

/**
 * A keyed hash (HMAC-SHA-256 under the account's id key, a sealed vault secret), 32 hex
 * characters. Ids that are stored in plaintext columns or shown to the relay are made with it, so
 * neither a sender's chosen content id nor a value the relay saw ever lands on our disk as is.
 */
function keyedId(idKey: Uint8Array, ...parts: string[]): string {
  return createHmac('sha256', idKey).update(JSON.stringify(parts)).digest().subarray(0, 16).toString('hex');
}

// Stored message ids are `m` + 32 hex characters in both directions: the direction is an input of
// the keyed hash, never a visible part of the id (it is in the sealed row). Likewise every relay
// idempotency key is 32 hex characters whatever the content type (text, receipt, anything later),
// so neither a seized laptop's id columns nor the relay's records tell kinds or directions apart.

/**
 * Stored id of a received message. Deterministic (a redelivery finds the stored copy), scoped by
 * the contact, and a keyed hash of the sender-chosen content id, which is kept sealed (kv) for
 * read receipts.
 */
export function incomingMessageId(idKey: Uint8Array, contactId: string, contentId: string): string {
  return `m${keyedId(idKey, 'message', 'in', contactId, contentId)}`;
}

/**
 * Where a message received from `contact` goes: its stored id, its conversation, and the stored
 * copy when this is a redelivery (a text's and an attachment's store steps alike).
 */
export function incomingPlace(
  vault: Vault,
  keys: { withIdKey<T>(fn: (idKey: Uint8Array) => T): T },
  contact: ContactRecord,
  contentId: string,
): { id: string; conversationId: string; existing: StoredMessage | undefined } {
  const id = keys.withIdKey((k) => incomingMessageId(k, contact.id, contentId));
  return { id, conversationId: conversationIdOf(contact.id), existing: vault.getMessage(id) };
}

/**
 * Stored id of a message we send. Deterministic, so a receipt naming the content id finds it; the
 * content id itself is kept sealed, for re-sending a queued message: a text's in its sealed entry
 * (outgoing.ts storeQueued), an attachment's (and an older build's text's) in OUTGOING_CONTENT_IDS.
 */
export function outgoingMessageId(idKey: Uint8Array, contentId: string): string {
  return `m${keyedId(idKey, 'message', 'out', contentId)}`;
}

/**
 * Idempotency key of the relay send carrying a text message (the outbox id). Deterministic (a
 * re-send uses the same key) but unlinkable, without the id key, to the stored message id. The
 * content type is inside the hash input, not a visible prefix.
 */
export function textIdempotencyKey(idKey: Uint8Array, contentId: string): string {
  return keyedId(idKey, 'send', 'text', contentId);
}

export const ID_KEY_SECRET = 'messenger.id-key';

/** Each vault's id key while the event-loop turn that unsealed it lasts (see withIdKey). */
const heldIdKeys = new WeakMap<Vault, Uint8Array>();

/**
 * Runs fn with the account's id key (a sealed vault secret, made on first use). It is unsealed
 * once per event-loop turn, not once per call (a catch-up or a deletion derives ids for many
 * messages in one turn, and each unseal is a sealed secret read); the copy is zeroed and
 * dropped at the next turn. fn must not keep it.
 */
export function withIdKey<T>(vault: Vault, fn: (idKey: Uint8Array) => T): T {
  let key = heldIdKeys.get(vault);
  if (!key) {
    const unsealed = vault.getAccountSecret(ID_KEY_SECRET);
    const held = unsealed ?? randomBytes(32);
    if (!unsealed) vault.setAccountSecret(ID_KEY_SECRET, held);
    heldIdKeys.set(vault, held);
    setImmediate(() => {
      held.fill(0);
      if (heldIdKeys.get(vault) === held) heldIdKeys.delete(vault);
    });
    key = held;
  }
  return fn(key);
}
/**
 * kv namespaces: stored incoming id -> content id until the read receipt (attachments, texts that
 * arrived as tombstones, and texts stored before a text kept only its QUOTABLE_CONTENT_IDS entry);
 * stored outgoing id -> content id (attachments, and texts stored before a text kept it in its
 * sealed entry); idempotency key -> content id.
 */
export const INCOMING_CONTENT_IDS = 'messenger-incoming-content-ids';
export const OUTGOING_CONTENT_IDS = 'messenger-outgoing-content-ids';
export const PENDING_SENDS = 'messenger-pending-sends';
/** Stored incoming id -> content id, kept after the read receipt so a reply can quote the message. */
export const QUOTABLE_CONTENT_IDS = 'messenger-quotable-content-ids';
/** Stored id -> JSON { delivered?, read? }: when the message reached those states (message details). */
export const STATE_TIMES = 'messenger-state-times';
/** Stored id of a reply -> stored id of the message it quotes. */
export const REPLY_TO = 'messenger-reply-to';

/** Idempotency key of a receipt send: random (the outbox re-sends it under the same key), shaped like a text's. */
export function receiptIdempotencyKey(): string {
  return randomHex16();
}

/** Stored id -> JSON { seconds, expiresAt|null }: a disappearing message's timer and its expiry (messenger/disappearing.ts). */
export const MESSAGE_TIMERS = 'messenger-message-timers';
/** Stored id of a timer-change system line -> JSON { seconds } (messenger/disappearing.ts). */
export const TIMER_CHANGES = 'messenger-timer-changes';
