// Receipts already handed to the relay for a message deleted later are withdrawn, as a deleted
// or expired message's own queued envelope is (docs/threat-model.md). Each delivered or read receipt
// we send is remembered, sealed, under its idempotency key (who it went to, its type, the content
// ids it names and their stored messages), and each message it names points at it. When a message
// is deleted (delete for me, expiry, a whole chat; in the deletion's own transaction or journal
// step), every receipt naming it gets a durable withdraw in the sealed outbox, as our sends do, and
// its other messages still stored are acknowledged again by a fresh receipt (a sealed intent, sent
// with the next receipts or right after the deletion), so the sender does not lose their ticks.
import { randomBytes } from 'node:crypto';
import type { Vault } from '../vault/index.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';
import { queueWithdrawals } from './withdraw-queue.ts';

/** Stored message id -> JSON string[]: "day:idem" of the receipts that named it. */
export const RECEIPTS_OF = 'messenger-receipts-of';
/** Receipt idempotency key -> JSON SentReceipt, one namespace per day sent (RECEIPTS_SENT + day). */
export const RECEIPTS_SENT = 'messenger-receipts-sent-';
/** The last day whose receipt records were dropped (JSON number). */
const PRUNED_UP_TO = 'messenger-receipts-pruned';
const DAY_MS = 86_400_000;
/**
 * Days a receipt's record is kept: the relay drops an envelope after 30 days by default
 * (relay/store.ts DEFAULT_ENVELOPE_TTL_MS), so an older receipt is no longer there to withdraw.
 */
const KEEP_DAYS = 31;

function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}
/** Random id -> JSON SentReceipt without a key: receipts to send again (the rest of a withdrawn one). */
export const RECEIPT_RESENDS = 'messenger-receipt-resends';

/** A receipt as sent: to whom, its type, and the content ids with the stored message of each; `groupId` for a group's. */
export interface SentReceipt {
  to: string;
  type: 'delivered' | 'read';
  ids: string[];
  messages: string[];
  groupId?: string;
}

/** Most receipts one message keeps pointers to (a delivered and a read one, and re-sends). */
const MAX_PER_MESSAGE = 8;

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function sentReceipt(v: unknown): SentReceipt | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<SentReceipt>;
  if (typeof r.to !== 'string' || (r.type !== 'delivered' && r.type !== 'read') || !isStrings(r.ids) || !isStrings(r.messages) || r.ids.length !== r.messages.length) return undefined;
  if (r.groupId !== undefined && typeof r.groupId !== 'string') return undefined;
  return { to: r.to, type: r.type, ids: r.ids, messages: r.messages, ...(r.groupId !== undefined ? { groupId: r.groupId } : {}) };
}

/** Remembers a receipt being sent (call inside the transaction that queues it). */
export function recordReceipt(vault: Vault, idem: string, receipt: SentReceipt, now: number = Date.now()): void {
  const day = dayOf(now);
  writeKvJson(vault, `${RECEIPTS_SENT}${day}`, idem, receipt);
  const pointer = `${day}:${idem}`;
  for (const m of new Set(receipt.messages)) {
    const list = readKvJson(vault, RECEIPTS_OF, m);
    const pointers = isStrings(list) ? list.filter((x) => x !== pointer && dayOf(now) - Number(x.split(':')[0]) <= KEEP_DAYS) : [];
    pointers.push(pointer);
    writeKvJson(vault, RECEIPTS_OF, m, pointers.slice(-MAX_PER_MESSAGE));
  }
}

/** The day each open vault's records were last pruned up to (a receipt sent checks it, not the vault). */
const prunedUpTo = new WeakMap<Vault, number>();

/**
 * Drops the records of receipts sent more than KEEP_DAYS ago (a day's namespace at a time, each
 * day once); nothing to read when this process pruned today already. Vault writes only.
 */
export function pruneReceiptRecords(vault: Vault, now: number = Date.now()): void {
  const last = dayOf(now) - KEEP_DAYS - 1;
  if ((prunedUpTo.get(vault) ?? -Infinity) >= last) return; // this vault, this day: done already
  const done = readKvJson(vault, PRUNED_UP_TO, 'day');
  if (typeof done === 'number' && done >= last) {
    prunedUpTo.set(vault, done);
    return;
  }
  // Never pruned, and no message points at a receipt: no record within the days kept exists
  // (each message a record names points at it until a deletion withdraws it), so the year of
  // days below need not be looked at one by one (a new profile's first unlock spent 100 ms of
  // its main thread on that, bench/catchup at load 5).
  if (done === undefined && !vault.kvHasAny(RECEIPTS_OF)) {
    writeKvJson(vault, PRUNED_UP_TO, 'day', last);
    prunedUpTo.set(vault, last);
    return;
  }
  vault.transaction(() => {
    // Before the first prune nothing older than the records' introduction exists: start a year back.
    for (let d = typeof done === 'number' ? done + 1 : last - 365; d <= last; d++) {
      for (const k of vault.kvKeys(`${RECEIPTS_SENT}${d}`)) vault.kvDelete(`${RECEIPTS_SENT}${d}`, k);
    }
    writeKvJson(vault, PRUNED_UP_TO, 'day', last);
  });
  prunedUpTo.set(vault, last);
}

/**
 * Open vaults found to hold no intent since the last one was written (withdrawReceiptsOf is the
 * only writer): every receipt sent looks for intents, and in a catch-up that is one look per
 * receipt. A write undone by a rollback only leaves the next look to find nothing again.
 */
const noResends = new WeakSet<Vault>();

/**
 * Message `messageId` is being deleted: every receipt that named it is withdrawn (durably), and
 * the rest of each is queued to be acknowledged again. Vault writes only.
 */
export function withdrawReceiptsOf(vault: Vault, messageId: string, now: number = Date.now()): void {
  const list = readKvJson(vault, RECEIPTS_OF, messageId);
  if (list === undefined) return;
  vault.kvDelete(RECEIPTS_OF, messageId);
  if (!isStrings(list)) return;
  for (const pointer of list) {
    const [dayText = '', idem = ''] = pointer.split(':');
    const ns = `${RECEIPTS_SENT}${dayText}`;
    // Older than the relay keeps envelopes: pruned, nothing to withdraw.
    const receipt = dayOf(now) - Number(dayText) <= KEEP_DAYS ? sentReceipt(readKvJson(vault, ns, idem)) : undefined;
    if (!receipt) continue;
    vault.kvDelete(ns, idem);
    // Not handed to the relay client yet (it waits for the fsync of its commit, receipts.ts):
    // it never goes. A client holding it already sends it before the withdraw queued here.
    vault.outboxDelete(idem);
    queueWithdrawals(vault, [{ to: receipt.to, idem }], now);
    const keep = receipt.messages.map((m, i) => i).filter((i) => receipt.messages[i] !== messageId);
    for (const i of keep) {
      const m = receipt.messages[i] as string;
      const others = readKvJson(vault, RECEIPTS_OF, m);
      if (!isStrings(others)) continue;
      const rest = others.filter((x) => x !== pointer);
      if (rest.length > 0) writeKvJson(vault, RECEIPTS_OF, m, rest);
      else vault.kvDelete(RECEIPTS_OF, m);
    }
    if (keep.length > 0) {
      const resend: SentReceipt = { ...receipt, ids: keep.map((i) => receipt.ids[i] as string), messages: keep.map((i) => receipt.messages[i] as string) };
      writeKvJson(vault, RECEIPT_RESENDS, randomBytes(16).toString('hex'), resend);
      noResends.delete(vault);
    }
  }
}

/** A receipt to send again (an intent under `key`), with only the messages still stored. */
export interface DueResend extends SentReceipt {
  key: string;
}

/**
 * The receipts to send again, each with only the messages still stored (a message deleted
 * meanwhile is not named again). An intent naming none any more is removed; the others stay
 * until dropResend, which the caller runs in the commit that queues the receipt, so a lock or a
 * missing connection meanwhile loses none (they go at the next connect).
 */
export function dueResends(vault: Vault): DueResend[] {
  if (noResends.has(vault)) return [];
  const keys = vault.kvKeys(RECEIPT_RESENDS);
  if (keys.length === 0) {
    noResends.add(vault);
    return [];
  }
  const out: DueResend[] = [];
  vault.transaction(() => {
    for (const key of keys) {
      const r = sentReceipt(readKvJson(vault, RECEIPT_RESENDS, key));
      const keep = r ? r.messages.map((m, i) => i).filter((i) => vault.getMessage(r.messages[i] as string) !== undefined) : [];
      if (!r || keep.length === 0) {
        vault.kvDelete(RECEIPT_RESENDS, key);
        continue;
      }
      out.push({ ...r, key, ids: keep.map((i) => r.ids[i] as string), messages: keep.map((i) => r.messages[i] as string) });
    }
  });
  return out;
}

/** The intent `key` is done (sent, or there is no one to send it to). Vault writes only. */
export function dropResend(vault: Vault, key: string): void {
  vault.kvDelete(RECEIPT_RESENDS, key);
}
