// How group requests leave (groups.ts): through the sealed outbox as `sendMany` requests the
// relay accepts, split in order when a fan-out is larger than one request; and a membership
// change to each member over the 1:1 sessions (a joiner also gets the chain it starts from).
import { randomBytes } from 'node:crypto';
import { ApiError } from '../../shared/api.ts';
import { MAX_ENVELOPE_BYTES, MAX_SEND_MANY_BYTES, MAX_SEND_MANY_ITEMS, type SendManyParams } from '../../shared/protocol/methods.ts';
import { encodeEnvelope, type MessageContent } from '../e2e/index.ts';
import type { Vault } from '../vault/index.ts';
import { snapshotBytes, type GroupLog, type SignedChange, type Snapshot } from './group-state.ts';
import { groupInfo, idem, loadGroup, PENDING, requireGroup, saveGroup, utf8, type GroupDeps, type GroupRecord } from './group-store.ts';

/** A joiner gets the whole chain from the creation while it fits one message comfortably, else the state it starts from. */
const MAX_CHAIN_JSON_BYTES = 40 * 1024;

/**
 * Durable in the sealed outbox before this returns (the net layer re-sends after a restart;
 * each item's idempotency key keeps it once at the relay). Large fan-outs are split in
 * requests the relay accepts, in order, so each recipient's key still comes before the text.
 */
export function handGroupRequest(d: GroupDeps, bodies: Uint8Array[], items: SendManyParams['items'], reqId: string, messageId: string | undefined): void {
  if (items.length === 0) return;
  const conn = d.link();
  if (!conn) throw new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
  const chunks: SendManyParams[] = [];
  let cur: SendManyParams = { bodies: [], items: [] };
  let bytes = 0;
  const index = new Map<number, number>();
  for (const item of items) {
    const body = bodies[item.b]!;
    const isNew = !index.has(item.b);
    if (cur.items.length >= MAX_SEND_MANY_ITEMS || (isNew && bytes + body.length > MAX_SEND_MANY_BYTES)) {
      chunks.push(cur);
      cur = { bodies: [], items: [] };
      bytes = 0;
      index.clear();
    }
    let b = index.get(item.b);
    if (b === undefined) {
      if (body.length > MAX_ENVELOPE_BYTES) throw new ApiError('INVALID_ARGUMENT', 'The message is too long.');
      b = cur.bodies.push(body) - 1;
      index.set(item.b, b);
      bytes += body.length;
    }
    cur.items.push({ to: item.to, idem: item.idem, b });
  }
  chunks.push(cur);
  const vault = d.vault();
  chunks.forEach((chunk, i) => {
    const outboxId = idem(d, reqId, `request:${i}`);
    if (messageId !== undefined && i === chunks.length - 1) vault.kvSet(PENDING, outboxId, utf8(messageId));
    conn.client.callDurableMany(chunk, outboxId).then(
      () => groupRequestSent(d, outboxId),
      () => undefined,
    );
  });
}

/**
 * One group message (a text, a file's announcement: `plaintext`, encoded content) to `recipients`:
 * our current chain first to those who do not hold it yet (new members, or after a removal), then
 * the plaintext encrypted once with it, all handed in one request (handGroupRequest). False when
 * there is no one to send to (nothing handed). Runs inside the caller's vault activity.
 */
export async function sendGroupMessage(d: GroupDeps, groupId: string, record: GroupRecord, recipients: readonly string[], plaintext: Uint8Array, messageId: string): Promise<boolean> {
  const e2e = d.e2e();
  const reqId = randomBytes(16).toString('hex');
  const bodies: Uint8Array[] = [];
  const items: SendManyParams['items'] = [];
  const needKey = recipients.filter((h) => !record.holders.includes(h));
  if (needKey.length > 0) {
    const distribution = Buffer.from(await e2e.groups.distribution(record.dist)).toString('base64');
    for (const h of needKey) {
      bodies.push(encodeEnvelope(await e2e.sendContent(h, { v: 1, kind: 'sender-key', groupId, distribution })));
      items.push({ to: h, idem: idem(d, reqId, `key:${h}`), b: bodies.length - 1 });
    }
    record.holders = [...new Set([...record.holders, ...needKey])];
    // Re-read before writing: a member's chain may have been stored while we awaited above
    // (writing our stale copy would lose it, and every later message of theirs with it).
    const fresh = requireGroup(d, groupId);
    if (fresh.dist === record.dist) {
      fresh.holders = [...new Set([...fresh.holders, ...needKey])];
      saveGroup(d, groupId, fresh);
    }
  }
  bodies.push(await e2e.groups.encrypt(record.dist, plaintext));
  const b = bodies.length - 1;
  for (const h of recipients) items.push({ to: h, idem: idem(d, reqId, h), b });
  if (items.length === 0) return false;
  handGroupRequest(d, bodies, items, reqId, messageId);
  return true;
}

/** The relay accepted a group request: its message is 'sent' (also after a restart, through onDurable). */
export function groupRequestSent(d: GroupDeps, outboxId: string): void {
  let vault: Vault;
  try {
    vault = d.vault();
  } catch {
    return; // locked: resumed at the next unlock
  }
  const raw = vault.kvGet(PENDING, outboxId);
  if (!raw) return;
  vault.kvDelete(PENDING, outboxId);
  const id = Buffer.from(raw).toString('utf8');
  const m = vault.getMessage(id);
  if (m?.state !== 'queued') return;
  vault.updateMessageState(id, 'sent');
  const record = loadGroup(d, m.conversationId.slice(1));
  if (record) d.changed?.(groupInfo(d, record));
}

/** Sends a change to `to` over the 1:1 sessions, in one relay request; `joiner` also gets what it starts from. */
export async function sendChange(d: GroupDeps, log: GroupLog, change: SignedChange, to: readonly string[], joiner: string | undefined): Promise<void> {
  const e2e = d.e2e();
  const bodies: Uint8Array[] = [];
  const items: SendManyParams['items'] = [];
  const reqId = randomBytes(16).toString('hex');
  for (const h of to) {
    if (e2e.identityStatus(h).pending) continue; // a changed, unaccepted key gets nothing new
    const content: MessageContent = { v: 1, kind: 'group-change', change: change as unknown as Record<string, unknown>, ...(h === joiner ? joinerStart(d, log) : {}) };
    bodies.push(encodeEnvelope(await e2e.sendContent(h, content)));
    items.push({ to: h, idem: idem(d, reqId, h), b: bodies.length - 1 });
  }
  handGroupRequest(d, bodies, items, reqId, undefined);
}

/**
 * The signed chain from the creation (the joiner checks every change), or, when it is too long
 * or we hold none, the state after the add signed by us with the creation that binds the group
 * id (the joiner then trusts us on the state: docs/threat-model.md).
 */
function joinerStart(d: GroupDeps, log: GroupLog): { chain: Record<string, unknown>[] } | { state: Record<string, unknown> } | Record<string, never> {
  const chain = log.chain();
  if (chain && chain.length <= 512 && JSON.stringify(chain).length <= MAX_CHAIN_JSON_BYTES) return { chain: chain as unknown as Record<string, unknown>[] };
  const creation = log.creation();
  // A log joined from a snapshot before the creation was kept has nothing that binds the id: the joiner cannot start.
  if (!creation) return {};
  const state = log.state;
  const sig = Buffer.from(d.e2e().groups.sign(snapshotBytes(state))).toString('base64');
  const snapshot: Snapshot = { state, creation, sig };
  return { state: snapshot as unknown as Record<string, unknown> };
}
