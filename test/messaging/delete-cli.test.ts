// `ephemera delete CONTACT MESSAGE_ID` and `ephemera delete CONTACT --conversation` ("delete for
// me", issue #14) as child processes on a profile that received real messages through a relay
// process: the message leaves history, search (whose sealed snapshot held it) and every file of
// the profile; the refusals have their exit codes and change nothing.
import { describe, expect, it } from 'vitest';
import { cli, filesContaining, messagingScene, newPeer } from './helpers.ts';

const scene = messagingScene('delete-cli', ['alice', 'bob'] as const);
const WORD = 'quokkazanzibarix';

describe('ephemera delete', () => {
  it('deletes one message, then the whole conversation, from history, search and every file', async () => {
    const { descriptorText } = await scene.startRelay();
    const alice = await newPeer(scene.dirs.alice, 'alice', descriptorText);
    const bob = await newPeer(scene.dirs.bob, 'bob', descriptorText);
    scene.peers.push(alice, bob);
    const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    for (const text of ['first ordinary line', `the ${WORD} secret`, 'last ordinary line']) await alice.m.sendText({ conversationId: toBob, text });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await bob.m.close();
    scene.peers.splice(scene.peers.indexOf(bob), 1);
    const dir = scene.dirs.bob;

    // Before: search finds it (and leaves a sealed snapshot that holds its terms).
    const found = await cli(dir, 'search', WORD);
    expect(found.code, found.stderr).toBe(0);
    expect(found.json.results).toHaveLength(1);
    const history = await cli(dir, 'history', 'alice');
    const messages = history.json.messages as { id: string; text: string }[];
    expect(messages.map((m) => m.text)).toEqual(['first ordinary line', `the ${WORD} secret`, 'last ordinary line']);
    const secretId = messages[1]!.id;

    // Refusals: unknown message (10), both forms or neither (2); nothing changes.
    expect((await cli(dir, 'delete', 'alice', 'm0000unknown')).code).toBe(10);
    expect((await cli(dir, 'delete', 'alice', secretId, '--conversation')).code).toBe(2);
    expect((await cli(dir, 'delete', 'alice')).code).toBe(2);
    expect((await cli(dir, 'history', 'alice')).json.messages).toHaveLength(3);

    const deleted = await cli(dir, 'delete', 'alice', secretId);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.json).toEqual({ ok: true, deleted: 1, id: secretId });
    expect(((await cli(dir, 'history', 'alice')).json.messages as { text: string }[]).map((m) => m.text)).toEqual(['first ordinary line', 'last ordinary line']);
    const after = await cli(dir, 'search', WORD);
    expect(after.code, after.stderr).toBe(0);
    expect(after.json.results).toEqual([]);
    expect((await cli(dir, 'search', 'ordinary')).json.results).toHaveLength(2);
    expect(await filesContaining(dir, WORD)).toEqual([]);

    const all = await cli(dir, 'delete', 'alice', '--conversation');
    expect(all.code, all.stderr).toBe(0);
    expect(all.json).toEqual({ ok: true, deleted: 2, conversation: true });
    expect((await cli(dir, 'history', 'alice')).json.messages).toEqual([]);
    expect((await cli(dir, 'search', 'ordinary')).json.results).toEqual([]);
    expect(await filesContaining(dir, 'ordinary line')).toEqual([]);
  });
});
