// Withdraws of our envelopes the relay may still hold (a deleted or expired message's own send, our
// receipts naming it), queued durably in the sealed outbox inside the deletion's transaction, so a
// lock, a crash or a relay that is down loses none: the relay client loads them at its next start.
// While it runs, the client takes the ones queued since (takeQueued -> RelayClient.adoptDurable)
// without listing the outbox again, and sends each once, after the requests already waiting
// (so after a send of the same envelope still in flight); each leaves the outbox when answered.
// A send still in flight when its message is deleted leaves the outbox instead and is withdrawn
// once, right after it, while the process lives (queueInFlightWithdrawal).
import { IDEM_RE } from '../../shared/protocol/methods.ts';
import { encodeValue } from '../../shared/protocol/value.ts';
import type { OutboxItem } from '../vault/api.ts';
import type { Vault } from '../vault/index.ts';
import type { RelayConnection } from './connection.ts';

/** One of our envelopes to withdraw from the relay: the recipient's handle and its idempotency key. */
export interface Withdrawal {
  to: string;
  idem: string;
}

/** Outbox id of the withdraw of `idem`. */
export function withdrawId(idem: string): string {
  return `withdraw-${idem}`;
}

/**
 * Queued since the last take, per open vault: outbox ids of durable withdraws, and in-flight sends
 * (idempotency key -> recipient) whose deletion took them out of the outbox. Only ids: each is
 * checked against the outbox when taken, so one whose transaction rolled back is never sent.
 * Bounded: past it the ids are dropped (durable ones then wait in the outbox for the client's
 * next start).
 */
interface Queued {
  durable: Set<string>;
  inFlight: Map<string, string>;
}
const queued = new WeakMap<Vault, Queued>();
const MAX_QUEUED = 10_000;

function queueOf(vault: Vault): Queued {
  let q = queued.get(vault);
  if (!q) queued.set(vault, (q = { durable: new Set(), inFlight: new Map() }));
  if (q.durable.size + q.inFlight.size >= MAX_QUEUED) {
    q.durable.clear();
    q.inFlight.clear();
  }
  return q;
}

/**
 * Withdraws as durable requests in the sealed outbox (vault writes only: call inside the
 * deletion's transaction). The outcome is ignored (onDurable: not a send).
 */
export function queueWithdrawals(vault: Vault, withdrawals: readonly Withdrawal[], now: number): void {
  for (const w of withdrawals) {
    if (!IDEM_RE.test(w.idem)) continue; // no id key: nothing was ever sent under it
    const id = withdrawId(w.idem);
    vault.outboxPut({ id, createdAt: now, body: encodeValue({ m: 'withdraw', p: { to: w.to, idem: w.idem } }) });
    queueOf(vault).durable.add(id);
  }
}

/**
 * A send still in flight (handed to the relay client, not answered) whose message is being
 * deleted: the caller took it out of the outbox, so it is not sent again after a restart; the
 * client may still send it now (or its answer was lost), so it is withdrawn once, right after it
 * (not durably: the in-flight send itself does not outlive the process either).
 */
export function queueInFlightWithdrawal(vault: Vault, w: Withdrawal): void {
  if (IDEM_RE.test(w.idem)) queueOf(vault).inFlight.set(w.idem, w.to);
}

/** What the deletions since the last call queued, as still true now (committed, not yet sent). */
export function takeQueued(vault: Vault): { durable: OutboxItem[]; inFlight: Withdrawal[] } {
  const q = queued.get(vault);
  if (!q) return { durable: [], inFlight: [] };
  queued.delete(vault);
  const durable: OutboxItem[] = [];
  for (const id of q.durable) {
    const item = vault.outboxGet(id);
    if (item) durable.push(item);
  }
  // Its send left the outbox with the deletion (a rolled-back one still holds it: not withdrawn).
  const inFlight = [...q.inFlight].filter(([idem]) => vault.outboxGet(idem) === undefined).map(([idem, to]) => ({ to, idem }));
  return { durable, inFlight };
}

/**
 * After a deletion: its withdraws go to the running relay client now, each once. Without one
 * (offline, locked) the durable ones are left in the outbox, which the client loads at its next
 * start. Returns how many went to the client.
 */
export function sendQueuedWithdrawals(vault: Vault, conn: RelayConnection | undefined): number {
  if (!vault.isUnlocked) return 0;
  const { durable, inFlight } = takeQueued(vault);
  if (!conn) return 0;
  if (durable.length > 0) conn.client.adoptDurable(durable);
  for (const w of inFlight) void conn.client.call('withdraw', { to: w.to, idem: w.idem }).catch(() => undefined);
  return durable.length + inFlight.length;
}
