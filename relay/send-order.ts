// Per-sender order across a retry. A client keeps many sends in flight on one key and, when one
// is refused with a retryable code (INTERNAL: the store was away; QUEUE_FULL), re-sends it a
// second or two later, holding back what it has not sent yet. The sends already in flight
// behind the refused one are not held back: if the store is back (or the recipient acked)
// by the time they arrive, they commit first, and the retry lands after them: out of order
// (seen in chaos/cluster during a PostgreSQL restart). So the relay holds the line instead:
// after a device's send was refused retryably, each later send of that device is refused with
// the same code until the refused one comes again (its idempotency key), so the retry commits
// before anything sent after it. The client retries in order, so this costs one round of
// retries, never a message. A full queue is one recipient's: it holds back only the sends to
// that recipient (order matters per recipient), so a contact that keeps its own queue full
// cannot stall everything a device sends; a store away holds back every send.
import { RETRYABLE_RPC_ERRORS, RpcError } from '../shared/protocol/errors.ts';

/** A fence left by a send that is never retried (a caller that gave up) lifts after this long. */
export const SEND_FENCE_MS = 60_000;

export class SendFence {
  /** `to`: the recipient whose full queue refused the send (only its sends are held). */
  private held: { idem: string; code: string; until: number; to?: string } | undefined;

  /**
   * The refusal for a send of `idem` (to `to`; undefined for a send to several) at `now` while
   * an earlier send awaits its retry; undefined when it may go.
   */
  refusal(idem: string, now: number, to?: string): RpcError | undefined {
    const h = this.held;
    if (!h || h.idem === idem) return undefined;
    if (h.to !== undefined && h.to !== to) return undefined;
    if (h.until <= now) {
      this.held = undefined;
      return undefined;
    }
    return new RpcError(h.code, 'an earlier send of this device awaits its retry');
  }

  /**
   * The refusal for the send of `idem`, if an earlier send awaits its retry; the refused send
   * itself comes through and lifts the fence.
   */
  admit(idem: string, now: number, to?: string): RpcError | undefined {
    const r = this.refusal(idem, now, to);
    if (!r && this.held?.idem === idem) this.held = undefined;
    return r;
  }

  /** The send of `idem` failed with `e`: a retryable failure holds later sends back (the first one holds). */
  failed(idem: string, e: unknown, now: number, to?: string): void {
    if (this.held) return;
    const code = e instanceof RpcError ? e.code : 'INTERNAL';
    if (!RETRYABLE_RPC_ERRORS.has(code)) return;
    this.held = { idem, code, until: now + SEND_FENCE_MS, ...(code === 'QUEUE_FULL' && to !== undefined ? { to } : {}) };
  }
}

/**
 * Runs a send under `fence`. While the fence holds, `send` gets the refusal: it may still answer
 * a re-send of an envelope already stored (a duplicate keeps no order) but must store nothing
 * new (a send stores with queue limit 0 and turns QUEUE_FULL into the refusal). A retryable
 * failure of the send (thrown or rejected) raises the fence.
 */
export function fenced<T>(fence: SendFence, idem: string, now: number, send: (held: RpcError | undefined) => T | Promise<T>, to?: string): T | Promise<T> {
  const held = fence.admit(idem, now, to);
  const fail = (e: unknown): never => {
    if (held) throw e instanceof RpcError && e.code === 'QUEUE_FULL' ? held : e;
    fence.failed(idem, e, now, to);
    throw e;
  };
  try {
    const r = send(held);
    return r instanceof Promise ? r.catch(fail) : r;
  } catch (e) {
    return fail(e);
  }
}
