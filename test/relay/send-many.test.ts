// sendMany (relay/send-many.ts) on a real relay: one request stores an envelope for every
// recipient, each exactly as a send would (a re-sent request stores nothing twice), a refused
// item does not stop the others, and each recipient gets its envelopes in the order sent.
import { describe, expect, it } from 'vitest';
import { MAX_SEND_MANY_ITEMS } from '../../shared/protocol/methods.ts';
import { pushedEnvelopes, registeredOn, relayForFile, type RawSession, type TestDevice } from './raw-session.ts';

const relay = relayForFile('send-many', { queueLimit: 4 });
type Body = Awaited<ReturnType<RawSession['call']>>;

const registered = (handle: string): ReturnType<typeof registeredOn> => registeredOn(relay, handle);

/** The (sender, body) pairs pushed to `dev` on a new connection before a ping's answer. */
const pushedTo = async (dev: TestDevice): Promise<string[]> => (await pushedEnvelopes(relay, dev)).map((e) => `${e.from}:${e.body}`);

const ok = (b: Body): unknown => (b.kind === 'result' ? b.result : { error: b.kind === 'error' ? b.code : b.kind });
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('sendMany', () => {
  it('stores one envelope per item once, answers each item, and delivers in order', async () => {
    const alice = await registered('sm_alice');
    const bob = await registered('sm_bob');
    const carol = await registered('sm_carol');
    bob.s.close();
    carol.s.close();
    const request = {
      bodies: [text('group message'), text('key for bob')],
      items: [
        { to: 'sm_bob', idem: 'sm-idem-key-bob', b: 1 },
        { to: 'sm_bob', idem: 'sm-idem-msg-bob', b: 0 },
        { to: 'sm_nobody', idem: 'sm-idem-msg-nobody', b: 0 },
        { to: 'sm_carol', idem: 'sm-idem-msg-carol', b: 0 },
      ],
    };
    const first = ok(await alice.s.call(alice.key, 'sendMany', request)) as { results: ({ id: number; duplicate: boolean } | { error: string })[] };
    expect(first.results).toHaveLength(4);
    expect(first.results[2]).toEqual({ error: 'NOT_FOUND' });
    for (const i of [0, 1, 3]) expect(first.results[i]).toMatchObject({ duplicate: false });
    // The same request again (an answer lost, the outbox re-sends it): all duplicates, same ids.
    const again = ok(await alice.s.call(alice.key, 'sendMany', request)) as typeof first;
    expect(again.results).toEqual(first.results.map((r) => ('id' in r ? { id: r.id, duplicate: true } : r)));
    expect(await pushedTo(bob.dev)).toEqual(['sm_alice:key for bob', 'sm_alice:group message']);
    expect(await pushedTo(carol.dev)).toEqual(['sm_alice:group message']);
  });

  it('answers a full queue per item and keeps the rest', async () => {
    const alice = await registered('sm_alice2');
    const dave = await registered('sm_dave');
    const erin = await registered('sm_erin');
    dave.s.close();
    erin.s.close();
    const items = Array.from({ length: 5 }, (_, i) => ({ to: 'sm_dave', idem: `sm-dave-${i}-xxxx`, b: 0 }));
    const r = ok(await alice.s.call(alice.key, 'sendMany', { bodies: [text('x')], items: [...items, { to: 'sm_erin', idem: 'sm-erin-0-xxxx', b: 0 }] })) as { results: unknown[] };
    expect(r.results.slice(0, 4).every((x) => (x as { duplicate?: boolean }).duplicate === false)).toBe(true);
    expect(r.results[4]).toEqual({ error: 'QUEUE_FULL' });
    expect(r.results[5]).toMatchObject({ duplicate: false });
    expect(await pushedTo(erin.dev)).toEqual(['sm_alice2:x']);
  });

  it('refuses a malformed request whole (BAD_REQUEST) and stores nothing', async () => {
    const alice = await registered('sm_alice3');
    const frank = await registered('sm_frank');
    frank.s.close();
    const tooMany = Array.from({ length: MAX_SEND_MANY_ITEMS + 1 }, (_, i) => ({ to: 'sm_frank', idem: `sm-frank-${i}-xxxx`, b: 0 }));
    expect(ok(await alice.s.call(alice.key, 'sendMany', { bodies: [text('x')], items: tooMany }))).toEqual({ error: 'BAD_REQUEST' });
    const badIndex = [{ to: 'sm_frank', idem: 'sm-frank-ok-xxxx', b: 0 }, { to: 'sm_frank', idem: 'sm-frank-bad-xxxx', b: 1 }];
    expect(ok(await alice.s.call(alice.key, 'sendMany', { bodies: [text('x')], items: badIndex }))).toEqual({ error: 'BAD_REQUEST' });
    expect(await pushedTo(frank.dev)).toEqual([]);
  });
});
