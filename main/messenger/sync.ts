// The API's `sync`: waits until the work in flight is done (tests, the CLI and scripts use it).
import { ApiError } from '../../shared/api.ts';
import type { ReceiptSender } from './receipts.ts';
import type { Receiver } from './receiving.ts';
import type { Sender } from './sending.ts';
import type { SessionAccess } from './session.ts';

export interface SyncParts {
  access: SessionAccess;
  sender: Pick<Sender, 'idle'>;
  receiver: Pick<Receiver, 'lastAt'>;
  receipts: Pick<ReceiptSender, 'idle' | 'flushHeld'>;
}

/**
 * Waits until connected, the outbox is empty, receipts are out, and no envelope arrived for
 * `quietMs` (the relay pushes everything queued right after a bind). False when the relay could
 * not be reached, or the work did not finish, within `timeoutMs`. Once nothing else is left,
 * delivered receipts still held for their batch go at once instead of after their hold (up to
 * the gap, 20 s in a large group), so a sync ends with them out, within the same `timeoutMs`.
 */
export async function waitIdle(parts: SyncParts, timeoutMs: number, quietMs: number): Promise<boolean> {
  const session = parts.access.current();
  const conn = session?.connection;
  if (!conn || !session.registration) throw new ApiError('NOT_REGISTERED', 'Register this profile on a relay first.');
  const end = Date.now() + timeoutMs;
  if (!(await conn.waitReady(timeoutMs))) return false;
  const since = Date.now();
  while (Date.now() < end) {
    await parts.sender.idle();
    const quiet = Date.now() - Math.max(parts.receiver.lastAt, since) >= quietMs;
    const vault = parts.access.current()?.vault;
    const outbox = vault?.isUnlocked ? vault.outboxList().length : 0;
    if (quiet && outbox === 0) {
      if (parts.receipts.idle()) {
        parts.access.current()?.search.catchUp();
        return true;
      }
      // To the send queue (awaited by sender.idle above), then to the outbox, then answered.
      parts.receipts.flushHeld();
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}
