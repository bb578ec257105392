// The message a send returns and the 'message' event of a received text are built from what was
// just stored (messenger/stored-view.ts), not read back: they must equal what history reads back
// for the same message, for a plain text, a reply (ours and theirs quoted) and a disappearing one.
import { describe, expect, it } from 'vitest';
import type { Message } from '../../shared/api.ts';
import { helloPair, messagingScene, waitFor, type Peer } from './helpers.ts';

const scene = messagingScene('stored-view', ['alice', 'bob'] as const);

function received(p: Peer, text: string): Message | undefined {
  for (const e of p.events) if (e.name === 'message' && e.payload.direction === 'in' && e.payload.text === text) return e.payload;
  return undefined;
}

async function stored(p: Peer, conversationId: string, id: string): Promise<Message> {
  const page = await p.m.historyPage({ conversationId, anchor: { kind: 'newest' }, limit: 50 });
  const m = page.messages.find((x) => x.id === id);
  if (!m) throw new Error(`message ${id} is not in history`);
  return m;
}

describe('views of messages just stored', () => {
  it('equal the views history reads back (plain, replies, disappearing; sent and received)', { timeout: 120_000 }, async () => {
    const { alice, bob, toBob, toAlice } = await helloPair(scene);
    const arrive = async (p: Peer, text: string): Promise<Message> => {
      await waitFor(async () => received(p, text) !== undefined, 60_000, `${text} arrives`);
      return received(p, text)!;
    };
    const hello = await arrive(bob, 'hello');
    expect(hello).toEqual(await stored(bob, toAlice, hello.id));

    // Bob quotes alice's message (theirs, to him) and then his own; alice sees both quotes.
    const reply = await bob.m.sendText({ conversationId: toAlice, text: 'reply to hello', replyTo: hello.id });
    expect(reply.replyTo).toEqual({ id: hello.id, direction: 'in', text: 'hello' });
    expect(reply).toEqual(await stored(bob, toAlice, reply.id));
    const own = await bob.m.sendText({ conversationId: toAlice, text: 'reply to my reply', replyTo: reply.id });
    expect(own.replyTo).toEqual({ id: reply.id, direction: 'out', text: 'reply to hello' });
    expect(own).toEqual(await stored(bob, toAlice, own.id));
    const gotReply = await arrive(alice, 'reply to hello');
    expect(gotReply.replyTo).toMatchObject({ direction: 'out', text: 'hello' });
    expect(gotReply).toEqual(await stored(alice, toBob, gotReply.id));
    const gotOwn = await arrive(alice, 'reply to my reply');
    expect(gotOwn.replyTo).toEqual({ id: gotReply.id, direction: 'in', text: 'reply to hello' });
    expect(gotOwn).toEqual(await stored(alice, toBob, gotOwn.id));

    // Disappearing: the sender's countdown starts at send; the recipient's when first shown, so
    // its event says null and history (which shows it) the expiry it started.
    await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 300 });
    const timed = await alice.m.sendText({ conversationId: toBob, text: 'gone in five minutes' });
    expect(timed).toMatchObject({ timerSeconds: 300, expiresAt: timed.sentAt + 300_000 });
    expect(timed).toEqual(await stored(alice, toBob, timed.id));
    const gotTimed = await arrive(bob, 'gone in five minutes');
    expect(gotTimed).toMatchObject({ timerSeconds: 300, expiresAt: null });
    const shownAt = Date.now();
    const readBack = await stored(bob, toAlice, gotTimed.id);
    expect(readBack.expiresAt).toBeGreaterThanOrEqual(shownAt + 300_000);
    expect({ ...gotTimed, expiresAt: readBack.expiresAt }).toEqual(readBack);
  });
});
