// A group log read as a whole from outside (a backup line, opened or imported; a joiner's chain) is
// rebuilt in linear time and bounded (review finding F3): every change checked, the chain chosen
// once (GroupLog.replay), at most MAX_REPLAYED_CHANGES changes, a state's handles capped before they
// are compared. Counts the chain walks through the real class instead of timing anything.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_GROUP_MEMBERS } from '../../shared/api/types/groups.ts';
import { BackupJobs } from '../../main/messenger/backups.ts';
import { checkedLog } from '../../main/messenger/group-backup.ts';
import {
  changeHash,
  creationBody,
  GroupChangeRefused,
  GroupLog,
  MAX_REPLAYED_CHANGES,
  parseGroupState,
  sign,
  type ChangeBody,
  type GroupOp,
  type SignedChange,
} from '../../main/messenger/group-state.ts';
import { ageKeygen, ageRun, makeTempDir } from '../backup/helpers.ts';

// Signatures are the line's word on these paths (verify is () => true), so any bytes do.
const signer = (): Uint8Array => new Uint8Array(64).fill(7);
const creation = sign(creationBody('alice', 'Team', ['alice', 'bob']), signer);
const groupId = creation.body.groupId;
const change = (revision: number, parent: string, author: string, op: GroupOp): SignedChange =>
  sign({ v: 1, groupId, revision, parent, author, op } as ChangeBody, signer);

/** `n` renames by the creator, each on the one before (the last one names the group 'Team'). */
function renames(n: number): SignedChange[] {
  const out: SignedChange[] = [];
  let parent = changeHash(creation);
  for (let r = 1; r <= n; r++) {
    const c = change(r, parent, 'alice', { type: 'rename', name: r === n ? 'Team' : `name ${r % 7}` });
    out.push(c);
    parent = changeHash(c);
  }
  return out;
}

const line = (changes: readonly SignedChange[]): Record<string, unknown> => ({ root: GroupLog.create(creation, () => true).state, rootChange: creation, changes });
const chainWalks = (): ReturnType<typeof vi.spyOn> => vi.spyOn(GroupLog.prototype as unknown as { select(): void }, 'select');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a group log read as a whole', () => {
  it('a backup line of 20,000 changes is refused by the cap as a log that does not check out', () => {
    const walks = chainWalks();
    let refused: unknown;
    try {
      checkedLog(line(renames(20_000)));
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(GroupChangeRefused);
    expect((refused as GroupChangeRefused).reason).toBe('malformed');
    expect(walks).not.toHaveBeenCalled();
  });

  it('a line at the cap is rebuilt with every change applied and the chain chosen once', () => {
    const walks = chainWalks();
    const log = checkedLog(line(renames(MAX_REPLAYED_CHANGES)));
    expect(log.state.revision).toBe(MAX_REPLAYED_CHANGES + 1);
    expect(log.state.name).toBe('Team');
    expect(log.data().changes).toHaveLength(MAX_REPLAYED_CHANGES);
    expect(walks).toHaveBeenCalledTimes(1);
  });

  it('rebuilds a member\'s real log (a fork, a refused change) to the state and changes the member holds', () => {
    // Two admins change the same revision; the member keeps both, the chain takes one.
    const log = GroupLog.create(creation, () => true);
    const promote = change(1, changeHash(creation), 'alice', { type: 'promote', handle: 'bob' });
    log.offer(promote, () => true);
    const byAlice = change(2, changeHash(promote), 'alice', { type: 'rename', name: 'Team' });
    const byBob = change(2, changeHash(promote), 'bob', { type: 'timer', seconds: 3600 });
    log.offer(byAlice, () => true);
    log.offer(byBob, () => true);
    let parent = log.state.head;
    for (let r = 3; r <= 40; r++) {
      const c = change(r, parent, r % 2 ? 'alice' : 'bob', { type: 'rename', name: r === 40 ? 'Team' : `n${r}` });
      expect(log.offer(c, () => true)).toEqual({ result: 'applied' });
      parent = changeHash(c);
    }
    const held = log.data();
    expect(held.changes).toHaveLength(41);
    // A change by someone who is not a member is left out, as a member leaves it out.
    const intruder = change(41, log.state.head, 'mallory', { type: 'rename', name: 'Pwned' });
    const rebuilt = checkedLog({ ...held, changes: [...held.changes, intruder] } as unknown as Record<string, unknown>);
    expect(rebuilt.state).toEqual(log.state);
    expect(rebuilt.data().changes.map(changeHash)).toEqual(held.changes.map(changeHash));
    expect(GroupLog.restore(rebuilt.data()).state).toEqual(log.state);
  });

  it('a joiner\'s chain is checked without walking the chain per change, and one that forks is refused', () => {
    const chain = [creation, ...renames(600)];
    const add = change(601, changeHash(chain.at(-1)!), 'alice', { type: 'add', handle: 'zed' });
    const walks = chainWalks();
    const joined = GroupLog.fromChain([...chain, add], 'zed', () => true);
    expect(walks).not.toHaveBeenCalled();
    expect(joined.state.members).toEqual(['alice', 'bob', 'zed']);
    expect(joined.state.head).toBe(changeHash(add));
    expect(joined.chainChanges().map(changeHash)).toEqual([...chain, add].map(changeHash));
    // A change on an earlier one than the change before it is not a chain.
    const side = change(1, changeHash(creation), 'alice', { type: 'rename', name: 'Side' });
    const addOnSide = change(2, changeHash(side), 'alice', { type: 'add', handle: 'zed' });
    expect(() => GroupLog.fromChain([creation, renames(1)[0]!, side, addOnSide], 'zed', () => true)).toThrow(GroupChangeRefused);
  });

  it('a state naming more than MAX_GROUP_MEMBERS members or admins is refused before anything else is compared', () => {
    const handles = (n: number): string[] => Array.from({ length: n }, (_, i) => `u${i.toString().padStart(5, '0')}`);
    const state = (members: string[], admins: string[]): Record<string, unknown> => ({ groupId, name: 'Team', creator: 'u00000', members, admins, revision: 1, head: 'b'.repeat(64) });
    expect(parseGroupState(state(handles(MAX_GROUP_MEMBERS), handles(MAX_GROUP_MEMBERS))).members).toHaveLength(MAX_GROUP_MEMBERS);
    expect(() => parseGroupState(state(handles(300), handles(1)))).toThrow(GroupChangeRefused);
    expect(() => parseGroupState(state(handles(1), handles(300)))).toThrow(GroupChangeRefused);
    expect(() => parseGroupState(state(handles(40_000), handles(40_000)))).toThrow(GroupChangeRefused);
    expect(() => parseGroupState(state(handles(3), ['u00009']))).toThrow(GroupChangeRefused);
  });
});

describe('an opened backup\'s groups', () => {
  const tmp = makeTempDir('ephemera-group-replay-');
  afterAll(() => tmp.cleanup());

  /** An unsigned version-4 file holding these group lines, encrypted to a fresh age identity. */
  function backupFile(groups: { id: string; name: string; log: Record<string, unknown> }[]): { path: string; identityFile: string } {
    const counts = { contacts: 0, conversations: 0, messages: 0, secrets: 0, groups: groups.length };
    const lines = [
      JSON.stringify({ type: 'header', format: 'ephemera-backup', version: 4, created: 1, counts, includesIdentity: false }),
      ...groups.map((g) => JSON.stringify({ type: 'group', ...g })),
      JSON.stringify({ type: 'end', counts }),
    ];
    const keys = ageKeygen(tmp.dir, `id-${groups.length}-${Date.now()}.txt`);
    const path = join(tmp.dir, `groups-${Date.now()}-${Math.random().toString(16).slice(2)}.age`);
    const plain = join(tmp.dir, 'plain.jsonl');
    writeFileSync(plain, `${lines.join('\n')}\n`);
    const r = ageRun(['-r', keys.recipient, '-o', path, plain]);
    expect(r.status, r.stderr).toBe(0);
    return { path, identityFile: keys.identityFile };
  }

  it('a crafted long log and an oversized state show those groups unverified; the rest of the list stands', async () => {
    const other = sign(creationBody('carol', 'Big', ['carol']), signer);
    const bigRoot = { ...GroupLog.create(other, () => true).state, members: Array.from({ length: 300 }, (_, i) => `m${i.toString().padStart(4, '0')}`) };
    const file = backupFile([
      { id: groupId, name: 'Team', log: line(renames(20_000)) },
      { id: other.body.groupId, name: 'Big', log: { root: bigRoot, rootChange: other, changes: [] } },
    ]);
    const jobs = new BackupJobs(() => {});
    const opened = await jobs.open({ jobId: 'open-crafted', path: file.path, key: { kind: 'identityFile', path: file.identityFile } });
    const groups = jobs.groups(opened.backupId);
    expect(groups.map((g) => [g.name, g.logVerified, g.members.length]).sort()).toEqual([
      ['Big', false, 0],
      ['Team', false, 0],
    ]);
    jobs.closeAll();
  });

  it('a long real log at the cap is shown verified with its members', async () => {
    const file = backupFile([{ id: groupId, name: 'Team', log: line(renames(MAX_REPLAYED_CHANGES)) }]);
    const jobs = new BackupJobs(() => {});
    const opened = await jobs.open({ jobId: 'open-long', path: file.path, key: { kind: 'identityFile', path: file.identityFile } });
    expect(jobs.groups(opened.backupId)).toMatchObject([{ groupId, name: 'Team', logVerified: true, creator: 'alice', members: ['alice', 'bob'], admins: ['alice'] }]);
    jobs.closeAll();
  });
});
