// The group commands in their exact forms, as child processes against a real relay process:
// group create (prints the group id), groups, group info, send --group, history --group,
// rename, remove, timer, allow-add, and a non-admin's change refused with its exit code.
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, messagingScene, newPeer } from '../messaging/helpers.ts';

const scene = messagingScene('group-cli', ['alice', 'bob', 'carol']);

beforeAll(async () => {
  const { descriptorText } = await scene.startRelay();
  for (const n of ['alice', 'bob', 'carol'] as const) {
    const p = await newPeer(scene.dirs[n], `gc_${n}`, descriptorText);
    await p.m.close();
  }
}, 120_000);

describe('ephemera group commands', () => {
  it('create, list, info, send and history by group, rename, remove', async () => {
    const { alice, bob, carol } = scene.dirs;
    const created = await cli(alice, 'group', 'create', 'Friends', 'gc_bob', 'gc_carol');
    expect(created.code, created.stderr).toBe(0);
    const groupId = created.json.groupId as string;
    expect(groupId).toMatch(/^[0-9a-f]{32}$/);

    expect((await cli(bob, 'sync')).code).toBe(0);
    const list = await cli(bob, 'groups');
    expect(list.json.groups).toEqual([expect.objectContaining({ groupId, name: 'Friends' })]);
    const info = await cli(bob, 'group', 'info', groupId);
    expect(info.json).toMatchObject({ name: 'Friends', members: ['gc_alice', 'gc_bob', 'gc_carol'], admins: ['gc_alice'], revision: 1 });

    const sent = await cli(alice, 'send', '--group', groupId, 'hello friends');
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.json.state).toBe('sent');
    expect((await cli(bob, 'sync')).code).toBe(0);
    const history = await cli(bob, 'history', '--group', groupId);
    expect(history.json.messages).toEqual([
      expect.objectContaining({ sender: 'gc_alice', text: 'gc_alice created the group "Friends"', system: true }),
      expect.objectContaining({ sender: 'gc_alice', text: 'hello friends', direction: 'in' }),
    ]);

    // bob is no admin: refused, with the FORBIDDEN exit code, and nothing changes.
    const refused = await cli(bob, 'group', 'rename', groupId, 'Mine');
    expect(refused.code).not.toBe(0);
    expect(refused.json).toMatchObject({ ok: false, code: 'FORBIDDEN' });

    const renamed = await cli(alice, 'group', 'rename', groupId, 'Best friends');
    expect(renamed.json).toMatchObject({ name: 'Best friends', revision: 2 });
    const removed = await cli(alice, 'group', 'remove', groupId, 'gc_carol');
    expect(removed.json).toMatchObject({ members: ['gc_alice', 'gc_bob'], revision: 3 });
    expect((await cli(carol, 'sync')).code).toBe(0);
    expect((await cli(carol, 'group', 'info', groupId)).json).toMatchObject({ name: 'Best friends', isMember: false, revision: 3 });

    // The disappearing timer: an admin's change, shown by info; a bad duration is a usage error.
    const timed = await cli(alice, 'group', 'timer', groupId, '1h');
    expect(timed.code, timed.stderr).toBe(0);
    expect(timed.json).toMatchObject({ timerSeconds: 3600, revision: 4 });
    expect((await cli(bob, 'sync')).code).toBe(0);
    expect((await cli(bob, 'group', 'info', groupId)).json).toMatchObject({ timerSeconds: 3600, revision: 4 });
    expect((await cli(bob, 'group', 'timer', groupId, 'off')).json).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect((await cli(alice, 'group', 'timer', groupId, '2h')).code).toBe(2);

    // Every member may add: an admin's setting, shown by info as membersCanAdd; on|off only.
    expect((await cli(alice, 'group', 'info', groupId)).json).toMatchObject({ membersCanAdd: false });
    expect((await cli(bob, 'group', 'allow-add', groupId, 'on')).json).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    const allowed = await cli(alice, 'group', 'allow-add', groupId, 'on');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.json).toMatchObject({ membersCanAdd: true, revision: 5 });
    expect((await cli(bob, 'sync')).code).toBe(0);
    expect((await cli(bob, 'group', 'info', groupId)).json).toMatchObject({ membersCanAdd: true, revision: 5 });
    expect((await cli(alice, 'group', 'allow-add', groupId, 'maybe')).code).toBe(2);

    // Usage: a malformed group id is refused before anything opens.
    expect((await cli(alice, 'group', 'info', 'not-a-group')).code).toBe(2);
  }, 400_000);
});
