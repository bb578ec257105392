// `sendMany`: many envelopes in one request (a group message's fan-out). Each item is handled
// exactly as a `send` of it (same checks, idempotency and queue limit, same push), so a re-sent
// request after a lost answer stores nothing twice; the whole request is one transaction (the
// embedded relay's turn batch; a cluster node's group commit takes its items as one group). An
// item the relay refuses (unknown handle, full queue) is answered with its code and does not stop
// the others. The relay learns the recipient set of this one send, as it would from separate
// sends, and nothing about any group.
import { RpcError } from '../shared/protocol/errors.ts';
import { RELAY_METHODS } from '../shared/protocol/methods.ts';
import { andThen, requireDevice, serve, type MaybePromise, type ServedMethod } from './context.ts';
import { fenced, SendFence } from './send-order.ts';
import { DEFAULT_ENVELOPE_TTL_MS, type EnqueueResult, type QueuedEnvelope } from './store.ts';

type ItemResult = { id: number; duplicate: boolean } | { error: string };

/** One envelope of a sendMany. */
export interface ManyItem {
  to: string;
  idem: string;
  body: Buffer;
}

/** The queue as sendMany uses it (relay/methods.ts Queue). */
interface ManyQueue {
  enqueue(sender: Buffer, senderHandle: string, recipientHandle: string, idem: string, body: Buffer, now: number, queueLimit: number, expiresAt?: number): MaybePromise<EnqueueResult>;
  enqueueMany?(sender: Buffer, senderHandle: string, items: readonly ManyItem[], now: number, queueLimit: number, expiresAt: number, fence: SendFence): Promise<(EnqueueResult | RpcError)[]>;
}

interface ManyDelivery {
  readonly queueLimit: number;
  readonly envelopeTtlMs?: number;
  notifyQueued(recipient: Buffer, env?: QueuedEnvelope): void;
}

export function sendManyMethod(queue: ManyQueue, delivery: ManyDelivery): ServedMethod {
  return serve(RELAY_METHODS.sendMany, (ctx, p) => {
    const d = requireDevice(ctx);
    const from = d.handle;
    if (from === null) throw new RpcError('NOT_REGISTERED', 'register a handle before sending');
    // The decoder made fresh copies of the bodies; stored and pushed as they are.
    const items: ManyItem[] = p.items.map((it) => {
      const b = p.bodies[it.b]!;
      return { to: it.to, idem: it.idem, body: Buffer.from(b.buffer, b.byteOffset, b.byteLength) };
    });
    const expiresAt = ctx.now + (delivery.envelopeTtlMs ?? DEFAULT_ENVELOPE_TTL_MS);
    const answer = (rs: readonly (EnqueueResult | RpcError)[]): { results: ItemResult[] } => ({
      results: rs.map((r, i) => {
        if (r instanceof RpcError) return { error: r.code };
        if (!r.duplicate) delivery.notifyQueued(r.recipient, { id: r.id, from, body: items[i]!.body, sentAt: ctx.now });
        return { id: r.id, duplicate: r.duplicate };
      }),
    });
    // The request is one send as far as order goes: held back behind a refused send, and, when
    // it fails whole (the store away), holding later sends back until it comes again (its first
    // item's key). An item's own refusal is its answer, never retried alone: it holds nothing.
    const fence = (d.sendFence ??= new SendFence());
    const many = queue.enqueueMany?.bind(queue);
    if (many) {
      return fenced(fence, items[0]!.idem, ctx.now, (held) => {
        if (held) throw held;
        return many(d.permKeyId, from, items, ctx.now, delivery.queueLimit, expiresAt, fence).then(answer);
      });
    }
    return fenced(fence, items[0]!.idem, ctx.now, (held) => {
      if (held) throw held;
      // The embedded relay: each item at once, all in this turn's one transaction.
      const rs: (EnqueueResult | RpcError)[] = [];
      const step = (i: number): MaybePromise<{ results: ItemResult[] }> => {
        if (i === items.length) return answer(rs);
        const it = items[i]!;
        return andThen(one(() => queue.enqueue(d.permKeyId, from, it.to, it.idem, it.body, ctx.now, delivery.queueLimit, expiresAt)), (r) => {
          rs.push(r);
          return step(i + 1);
        });
      };
      return step(0);
    });
  });
}

/** An item's refusal is its answer; anything else (a store failure) fails the request, and the batch rolls back. */
function one(send: () => MaybePromise<EnqueueResult>): MaybePromise<EnqueueResult | RpcError> {
  const refused = (e: unknown): RpcError => {
    if (e instanceof RpcError) return e;
    throw e;
  };
  try {
    const r = send();
    return r instanceof Promise ? r.catch(refused) : r;
  } catch (e) {
    return refused(e);
  }
}
