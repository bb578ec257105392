// Five members through a real relay process (real libsignal, real vaults): the creator and four
// others exchange messages; an admin the creator made removes one member, whose client stays
// connected and still cannot read what follows even when handed the relay's ciphertext; a
// sixth joins, checks the signed chain from the creation (fetching the key of that admin, whom
// it never talked to) and cannot read what came before; every member converges.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GroupMessage } from '../../shared/api.ts';
import type { E2e } from '../../main/e2e/index.ts';
import { E2eError } from '../../shared/protocol/e2e-errors.ts';
import type { Messenger } from '../../main/messenger.ts';
import type { GroupService } from '../../main/messenger/groups.ts';
import type { GroupLogData } from '../../main/messenger/group-state.ts';
import type { UnlockedSession } from '../../main/messenger/session.ts';
import { messagingScene, peersOn, queuedEnvelopes, waitFor, type Peer } from '../messaging/helpers.ts';

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] as const;
type Name = (typeof NAMES)[number];
const scene = messagingScene('groups5', NAMES);
const peers = {} as Record<Name, Peer>;
let groupId = '';

const sessionOf = (p: Peer): UnlockedSession => (p.m as unknown as { life: { require(): UnlockedSession } }).life.require();
const e2eOf = (p: Peer): E2e => sessionOf(p).registration!.e2e;
const groupsOf = (p: Peer): GroupService => (p.m as unknown as { groups: GroupService }).groups;
const handle = (n: Name): string => `f_${n}`;

async function texts(m: Messenger): Promise<string[]> {
  return (await m.groupHistory({ groupId, limit: 500 })).messages.filter((x) => !x.system).map((x: GroupMessage) => `${x.sender}:${x.text}`);
}

async function infoAt(n: Name): Promise<string> {
  const g = (await peers[n].m.groupsList()).find((x) => x.groupId === groupId);
  return g ? JSON.stringify({ ...g, isMember: undefined }) : '';
}

/** Every named member holds the same group as `ref`. */
async function converged(names: readonly Name[], ref: Name, what: string): Promise<void> {
  await waitFor(async () => {
    const want = await infoAt(ref);
    for (const n of names) if ((await infoAt(n)) !== want) return false;
    return true;
  }, 60_000, what);
}

beforeAll(async () => {
  Object.assign(peers, await peersOn(scene, NAMES, 'f_'));
}, 180_000);

describe('a group of five', () => {
  it('create, send, remove one (cannot read later), add one (cannot read earlier), everyone converges', async () => {
    const { alice, bob, carol, erin, frank } = peers;
    const first: Name[] = ['alice', 'bob', 'carol', 'dave', 'erin'];
    groupId = (await alice.m.groupCreate({ name: 'Five', members: ['bob', 'carol', 'dave', 'erin'].map((n) => handle(n as Name)) })).groupId;
    await converged(first, 'alice', 'the group at all five');

    for (const n of first) await peers[n].m.groupSend({ groupId, text: `hello from ${n}` });
    for (const n of first) await waitFor(async () => (await texts(peers[n].m)).length === 5, 60_000, `five texts at ${n}`);
    for (const n of first) expect((await texts(peers[n].m)).sort()).toEqual(first.map((x) => `${handle(x)}:hello from ${x}`).sort());

    // alice makes bob an admin; bob removes erin (a change frank will have to check later).
    await alice.m.groupPromote({ groupId, handle: handle('bob') });
    await waitFor(async () => (await bob.m.groupInfo({ groupId })).admins.includes(handle('bob')), 60_000, 'bob an admin');
    await bob.m.groupRemove({ groupId, handle: handle('erin') });
    const rest: Name[] = ['alice', 'bob', 'carol', 'dave'];
    await converged(rest, 'bob', 'the removal at the four');
    await waitFor(async () => !(await erin.m.groupInfo({ groupId })).isMember, 60_000, 'the removal at erin');
    expect((await alice.m.groupInfo({ groupId })).members).toEqual(rest.map(handle));

    // carol offline, so alice's next text waits at the relay, where a hostile relay could take it for erin.
    await carol.m.lock();
    const seen = new Set(queuedEnvelopes(scene.dirs.relay).map((b) => b.toString('hex')));
    await alice.m.groupSend({ groupId, text: 'after erin' });
    let captured: Buffer[] = [];
    await waitFor(() => {
      captured = queuedEnvelopes(scene.dirs.relay).filter((b) => b[0] === 7 && !seen.has(b.toString('hex')));
      return captured.length > 0;
    }, 60_000, 'the text queued for carol');
    // erin's client is still connected and unlocked: handed the ciphertext, it has no key for it.
    for (const body of captured) {
      await expect(e2eOf(erin).groups.receive(handle('alice'), body, (p) => p.slice())).rejects.toThrow(E2eError);
      expect(await groupsOf(erin).receiveEnvelope({ id: 2_000_000, from: handle('alice'), body, sentAt: Date.now() })).toBe('dropped');
    }
    await carol.m.unlock({ password: 'correct horse battery staple' });
    for (const n of rest) await waitFor(async () => (await texts(peers[n].m)).includes(`${handle('alice')}:after erin`), 60_000, `after erin at ${n}`);

    // frank joins. He never talked to bob, whose signed removal is on the chain he checks.
    expect(e2eOf(frank).identityStatus(handle('bob')).trusted).toBeUndefined();
    await alice.m.groupAdd({ groupId, handle: handle('frank') });
    const now: Name[] = ['alice', 'bob', 'carol', 'dave', 'frank'];
    await converged(now, 'alice', 'the add at all five');
    const frankLog = (JSON.parse(Buffer.from(sessionOf(frank).vault.kvGet('groups', groupId)!).toString('utf8')) as { log: GroupLogData }).log;
    expect(frankLog.rootChange.body.op.type).toBe('create');
    expect(frankLog.changes.map((c) => `${c.body.author}:${c.body.op.type}`)).toEqual([`${handle('alice')}:promote`, `${handle('bob')}:remove`, `${handle('alice')}:add`]);
    expect(e2eOf(frank).identityStatus(handle('bob')).trusted).toBeDefined();
    // What came before his join is unreadable to him.
    for (const body of captured) await expect(e2eOf(frank).groups.receive(handle('alice'), body, (p) => p.slice())).rejects.toThrow(E2eError);

    for (const n of now) await peers[n].m.groupSend({ groupId, text: `again from ${n}` });
    const again = now.map((x) => `${handle(x)}:again from ${x}`);
    for (const n of now) await waitFor(async () => (await texts(peers[n].m)).filter((t) => t.includes(':again from ')).length === 5, 60_000, `the second round at ${n}`);
    for (const n of now) {
      const got = await texts(peers[n].m);
      expect(got.filter((t) => t.includes(':again from ')).sort()).toEqual([...again].sort());
      // Exactly once each.
      expect(new Set(got).size).toBe(got.length);
    }
    expect((await texts(frank.m)).sort()).toEqual([...again].sort());
    expect(await texts(erin.m)).not.toContain(`${handle('alice')}:after erin`);
    expect((await texts(erin.m)).some((t) => t.includes(':again from '))).toBe(false);
    expect((await texts(alice.m)).filter((t) => t.startsWith(`${handle('erin')}:`))).toEqual([`${handle('erin')}:hello from erin`]);
    await converged(now, 'frank', 'one state at the end');
    expect(JSON.parse(await infoAt('frank'))).toMatchObject({ name: 'Five', members: now.map(handle), admins: [handle('alice'), handle('bob')] });
  }, 300_000);
});
