// An author's record of who had and read each own group text (sealed kv, one record per message),
// and the log its members' receipts go to first. A receipt names several texts and every member
// sends its own, so applying each on arrival rewrote a message's whole record (every member's
// times) once per member: the author's cost grew with the group's size squared. A receipt is
// instead logged as it arrives (one small sealed write in its receive transaction, so it is
// durable before the relay forgets it) and the log is folded into the records a moment later, or
// before any record is read: each record read and written once per fold (bench/groups).
import { randomBytes } from 'node:crypto';
import type { GroupReceiptContent } from '../e2e/index.ts';
import type { Vault } from '../vault/index.ts';
import { outgoingMessageId } from './ids.ts';
import { readKvJson, writeKvJson } from './kv-json.ts';

/** Sealed kv: own group message id -> SentRecord. */
export const GROUP_SENT = 'group-receipts-sent';
/** Sealed kv: arrival key -> LoggedReceipt, until folded into GROUP_SENT. */
export const GROUP_RECEIPT_LOG = 'group-receipts-log';

export interface SentRecord {
  groupId: string;
  /** The members it was handed to (the "of" in "read by 2 of 3"). */
  to: string[];
  delivered: Record<string, number>;
  read: Record<string, number>;
}
interface LoggedReceipt {
  from: string;
  groupId: string;
  type: 'delivered' | 'read';
  at: number;
  /** Own message ids (from the receipt's content ids). */
  ids: string[];
}

export const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
/** A receipt record of this code's own writing: bad JSON throws (kv-json.ts strict). */
export const readJson = <T>(vault: Vault, ns: string, key: string): T | undefined => readKvJson(vault, ns, key, { strict: true }) as T | undefined;

/**
 * A member's receipt arriving over the 1:1 session (inside its receive transaction: vault writes
 * only): logged for the next fold. Returns the group it names (whether it changes anything is
 * known at the fold).
 */
export function storeGroupReceipt(vault: Vault, from: string, content: GroupReceiptContent, withIdKey: <T>(fn: (idKey: Uint8Array) => T) => T, now = Date.now()): string | undefined {
  if (content.ids.length === 0) return undefined;
  const ids = withIdKey((k) => content.ids.map((cid) => outgoingMessageId(k, cid)));
  const entry: LoggedReceipt = { from, groupId: content.groupId, type: content.type, at: now, ids };
  // Keys sort by arrival, so the fold applies them in order (the first time counts).
  writeKvJson(vault, GROUP_RECEIPT_LOG, `${String(now).padStart(15, '0')}:${randomBytes(6).toString('hex')}`, entry);
  return content.groupId;
}

/**
 * Applies the logged receipts to their records in one transaction and empties the log. Applies
 * only to own messages of the receipt's group that were sent to its member (a deleted message
 * has no record: its receipts apply to nothing); read implies delivered; the first time counts.
 * Returns the groups whose counts changed.
 */
export function foldGroupReceipts(vault: Vault): Set<string> {
  const changed = new Set<string>();
  const keys = vault.kvKeys(GROUP_RECEIPT_LOG);
  if (keys.length === 0) return changed;
  keys.sort();
  vault.transaction(() => {
    const records = new Map<string, SentRecord | null>();
    const dirty = new Set<string>();
    for (const key of keys) {
      const e = readJson<LoggedReceipt>(vault, GROUP_RECEIPT_LOG, key);
      vault.kvDelete(GROUP_RECEIPT_LOG, key);
      if (!e) continue;
      for (const id of e.ids) {
        let rec = records.get(id);
        if (rec === undefined) records.set(id, (rec = readJson<SentRecord>(vault, GROUP_SENT, id) ?? null));
        if (!rec || rec.groupId !== e.groupId || !rec.to.includes(e.from)) continue;
        const delivered = rec.delivered[e.from] === undefined;
        const read = e.type === 'read' && rec.read[e.from] === undefined;
        if (!delivered && !read) continue;
        if (delivered) rec.delivered[e.from] = e.at;
        if (read) rec.read[e.from] = e.at;
        dirty.add(id);
        changed.add(rec.groupId);
      }
    }
    for (const id of dirty) writeKvJson(vault, GROUP_SENT, id, records.get(id));
  });
  return changed;
}
