// `ephemera delete CONTACT MESSAGE_ID --for-everyone` (issue #14) as a child process on a profile
// that sent real messages through a relay process: the contact (an in-process Messenger) sees the
// tombstone, `history --json` shows it with `deleted: true` and no text; refusals have exit codes.
import { describe, expect, it } from 'vitest';
import { cli, fullHistory, messagingScene, newPeer, waitFor } from './helpers.ts';

const scene = messagingScene('dfe-cli', ['alice', 'bob'] as const);

describe('ephemera delete --for-everyone', () => {
  it('turns the message into a tombstone on both sides; refuses a conversation and another\'s message', async () => {
    const { descriptorText } = await scene.startRelay();
    const alice = await newPeer(scene.dirs.alice, 'alice', descriptorText);
    const bob = await newPeer(scene.dirs.bob, 'bob', descriptorText);
    scene.peers.push(bob);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    for (const text of ['keep this one', 'umbrafizzlewomp by mistake']) await alice.m.sendText({ conversationId: toBob, text });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    const toAlice = (await bob.m.contactsList())[0]!.conversationId;
    await waitFor(async () => (await fullHistory(bob.m, toAlice)).length === 2, 60_000, 'bob has both');
    await bob.m.sendText({ conversationId: toAlice, text: 'from bob' });
    await waitFor(async () => (await fullHistory(alice.m, toBob)).length === 3, 60_000, 'alice has the reply');
    await alice.m.close();
    const dir = scene.dirs.alice;

    const history = await cli(dir, 'history', 'bob');
    const ids = (history.json.messages as { id: string; text: string }[]).map((m) => m.id);
    expect(ids).toHaveLength(3);
    // Refusals: with --conversation (usage, 2); bob's message (not ours); nothing changes.
    expect((await cli(dir, 'delete', 'bob', '--conversation', '--for-everyone')).code).toBe(2);
    const theirs = await cli(dir, 'delete', 'bob', ids[2]!, '--for-everyone');
    expect(theirs.code).not.toBe(0);
    expect(theirs.json).toMatchObject({ ok: false, code: 'FORBIDDEN' });

    const done = await cli(dir, 'delete', 'bob', ids[1]!, '--for-everyone');
    expect(done.code, done.stderr).toBe(0);
    expect(done.json).toEqual({ ok: true, deleted: 1, id: ids[1], forEveryone: true, outbox: 0 });
    const after = (await cli(dir, 'history', 'bob')).json.messages as { id: string; text: string; deleted?: boolean }[];
    expect(after.map((m) => [m.id, m.text, m.deleted ?? false])).toEqual([[ids[0], 'keep this one', false], [ids[1], '', true], [ids[2], 'from bob', false]]);
    await waitFor(async () => (await fullHistory(bob.m, toAlice)).some((m) => m.deleted === true), 60_000, 'bob sees the tombstone');
    expect((await fullHistory(bob.m, toAlice)).map((m) => [m.text, m.deleted ?? false])).toEqual([['keep this one', false], ['', true], ['from bob', false]]);
  });
});
