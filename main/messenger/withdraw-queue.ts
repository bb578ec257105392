// Withdraws of our envelopes the relay may still hold (a deleted or expired message's own send, our
// receipts naming it), queued durably in the sealed outbox inside the deletion's transaction, so a
// lock, a crash or a relay that is down loses none: the relay client loads them at its next start.
// While it runs, the client takes the ones queued since (takeQueued -> RelayClient.adoptDurable)
// without listing the outbox again, and sends each once, after the requests already waiting
// (so after a send of the same envelope still in flight); each leaves the outbox when answered.
// A send still in flight when its message is deleted leaves the outbox, and gets a durable
// withdraw too (deletion-journal.ts forgetSend): a lock or crash before its answer loses neither.
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
  return `${WITHDRAW_PREFIX}${idem}`;
}

/**
 * Queued since the last take, per open vault: outbox ids of durable withdraws. Only ids: each is
 * checked against the outbox when taken, so one whose transaction rolled back is never sent.
 * Bounded: past it the ids give way to a flag, and the take lists the outbox's withdraws instead
 * (the client reads the outbox only at its start, so dropping them would hold them until then).
 */
interface Queued {
  durable: Set<string>;
  overflow: boolean;
}
const queued = new WeakMap<Vault, Queued>();
const MAX_QUEUED = 10_000;
const WITHDRAW_PREFIX = 'withdraw-';

function queueOf(vault: Vault): Queued {
  let q = queued.get(vault);
  if (!q) queued.set(vault, (q = { durable: new Set(), overflow: false }));
  if (q.durable.size >= MAX_QUEUED) {
    q.durable.clear();
    q.overflow = true;
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

/** What the deletions since the last call queued, as still true now (committed, not yet sent). */
export function takeQueued(vault: Vault): OutboxItem[] {
  const q = queued.get(vault);
  if (!q) return [];
  queued.delete(vault);
  // Past the bound: every withdraw in the outbox (the client skips those it already holds).
  if (q.overflow) return vault.outboxList().filter((item) => item.id.startsWith(WITHDRAW_PREFIX));
  const durable: OutboxItem[] = [];
  for (const id of q.durable) {
    const item = vault.outboxGet(id);
    if (item) durable.push(item);
  }
  return durable;
}

/**
 * After a deletion: its withdraws go to the running relay client now, each once. Without one
 * (offline, locked) they stay queued here and in the outbox, which the client loads at its next
 * start. Returns how many went to the client.
 */
export function sendQueuedWithdrawals(vault: Vault, conn: RelayConnection | undefined): number {
  if (!vault.isUnlocked || !conn) return 0;
  const durable = takeQueued(vault);
  if (durable.length > 0) conn.client.adoptDurable(durable);
  return durable.length;
}
