// `sendMany`: many envelopes in one request (a group message's fan-out). Each item is handled
// exactly as a `send` of it (same checks, idempotency and queue limit, same push), so a re-sent
// request after a lost answer stores nothing twice; the relay's group commit puts the whole
// request in one transaction. An item the relay refuses (unknown handle, full queue) is answered
// with its code and does not stop the others. The relay learns the recipient set of this one
// send, as it would from separate sends, and nothing about any group.
import { RpcError } from '../shared/protocol/errors.ts';
import { RELAY_METHODS } from '../shared/protocol/methods.ts';
import type { Value } from '../shared/protocol/value.ts';
import { andThen, requireDevice, serve, type CallContext, type MaybePromise, type ServedMethod } from './context.ts';

type ItemResult = { id: number; duplicate: boolean } | { error: string };

export function sendManyMethod(send: ServedMethod): ServedMethod {
  return serve(RELAY_METHODS.sendMany, (ctx, p) => {
    const d = requireDevice(ctx);
    if (d.handle === null) throw new RpcError('NOT_REGISTERED', 'register a handle before sending');
    const results: ItemResult[] = [];
    const step = (i: number): MaybePromise<{ results: ItemResult[] }> => {
      if (i === p.items.length) return { results };
      const item = p.items[i]!;
      return andThen(one(send, ctx, { to: item.to, idem: item.idem, body: p.bodies[item.b]! }), (r) => {
        results.push(r);
        return step(i + 1);
      });
    };
    return step(0);
  });
}

function one(send: ServedMethod, ctx: CallContext, params: Value): MaybePromise<ItemResult> {
  const refused = (e: unknown): ItemResult => {
    // Anything but a refusal (a store failure) fails the request, and the batch rolls back.
    if (e instanceof RpcError) return { error: e.code };
    throw e;
  };
  try {
    const r = send.run(ctx, params);
    const asResult = (v: Value): ItemResult => v as ItemResult;
    return r instanceof Promise ? r.then(asResult, refused) : asResult(r);
  } catch (e) {
    return refused(e);
  }
}
