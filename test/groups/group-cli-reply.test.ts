// `send --reply-to MESSAGE_ID` in its exact forms, as child processes against a real relay
// process: a group reply (`send --group GROUP_ID TEXT --reply-to ID`) and a 1:1 reply, each shown
// quoted by the other side's `history --json`; an id that names no message of that conversation
// is refused (UNKNOWN_MESSAGE) and nothing is sent.
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, messagingScene, newPeer } from '../messaging/helpers.ts';

const scene = messagingScene('group-cli-reply', ['alice', 'bob']);

beforeAll(async () => {
  const { descriptorText } = await scene.startRelay();
  for (const n of ['alice', 'bob'] as const) {
    const p = await newPeer(scene.dirs[n], `gr_${n}`, descriptorText);
    await p.m.close();
  }
}, 120_000);

type Row = { id: string; text: string; replyTo?: { text: string; sender?: string } | null };

describe('ephemera send --reply-to', () => {
  it('quotes a group text and a 1:1 message; an id of another conversation is refused', async () => {
    const { alice, bob } = scene.dirs;
    const created = await cli(alice, 'group', 'create', 'Pair', 'gr_bob');
    expect(created.code, created.stderr).toBe(0);
    const groupId = created.json.groupId as string;
    expect((await cli(alice, 'send', '--group', groupId, 'lunch at noon?')).code).toBe(0);
    expect((await cli(bob, 'sync')).code).toBe(0);
    const bobGroup = (await cli(bob, 'history', '--group', groupId)).json.messages as Row[];
    const question = bobGroup.find((m) => m.text === 'lunch at noon?');
    expect(question).toBeDefined();

    const reply = await cli(bob, 'send', '--group', groupId, 'yes', '--reply-to', question!.id);
    expect(reply.code, reply.stderr).toBe(0);
    expect(reply.json).toMatchObject({ state: 'sent' });
    expect((await cli(alice, 'sync')).code).toBe(0);
    const aliceGroup = (await cli(alice, 'history', '--group', groupId)).json.messages as Row[];
    expect(aliceGroup.find((m) => m.text === 'yes')?.replyTo).toMatchObject({ sender: 'gr_alice', text: 'lunch at noon?' });

    // 1:1: the group made the session; alice adds bob as a contact and writes to him.
    expect((await cli(alice, 'contact', 'add', 'gr_bob')).code).toBe(0);
    expect((await cli(alice, 'send', 'gr_bob', 'bring the map')).code).toBe(0);
    expect((await cli(bob, 'sync')).code).toBe(0);
    const bobDirect = (await cli(bob, 'history', 'gr_alice')).json.messages as Row[];
    const ask = bobDirect.find((m) => m.text === 'bring the map');
    expect(ask).toBeDefined();

    // The group text's id is not a message of the 1:1 conversation: refused, nothing sent.
    const wrong = await cli(bob, 'send', 'gr_alice', 'no', '--reply-to', question!.id);
    expect(wrong.code).not.toBe(0);
    expect(wrong.json).toMatchObject({ ok: false, code: 'UNKNOWN_MESSAGE' });
    expect((await cli(bob, 'send', '--group', groupId, 'no', '--reply-to', ask!.id)).json).toMatchObject({ ok: false, code: 'UNKNOWN_MESSAGE' });
    // A malformed id is a usage error before anything opens.
    expect((await cli(bob, 'send', 'gr_alice', 'no', '--reply-to', 'not an id')).code).toBe(2);

    const direct = await cli(bob, 'send', 'gr_alice', 'will do', '--reply-to', ask!.id);
    expect(direct.code, direct.stderr).toBe(0);
    expect((await cli(alice, 'sync')).code).toBe(0);
    const aliceDirect = (await cli(alice, 'history', 'gr_bob')).json.messages as Row[];
    expect(aliceDirect.find((m) => m.text === 'will do')?.replyTo).toMatchObject({ text: 'bring the map' });
    expect(aliceDirect.some((m) => m.text === 'no')).toBe(false);
    expect((await cli(alice, 'history', '--group', groupId)).json.messages).not.toContainEqual(expect.objectContaining({ text: 'no' }));
  }, 480_000);
});
