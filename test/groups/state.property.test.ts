// Group membership log (main/messenger/group-state.ts) with real libsignal identity keys: every
// member converges to one state whatever order the changes reach it in, crossing changes
// included; forged, stale, replayed and non-admin changes are refused and change nothing.
import { PrivateKey } from '@signalapp/libsignal-client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  changeHash,
  creationBody,
  GroupChangeRefused,
  GroupLog,
  parseSignedChange,
  sign,
  snapshotBytes,
  type ChangeBody,
  type GroupOp,
  type GroupState,
  type SignedChange,
  type Verify,
} from '../../main/messenger/group-state.ts';
import { MAX_GROUP_MEMBERS } from '../../shared/api.ts';

const HANDLES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'] as const;
const keys = new Map(HANDLES.map((h) => [h as string, PrivateKey.generate()]));
const verify: Verify = (author, message, sig) => {
  const k = keys.get(author);
  return k !== undefined && k.getPublicKey().verify(new Uint8Array(message), new Uint8Array(sig));
};
const signAs = (who: string, body: ChangeBody): SignedChange => sign(body, (m) => keys.get(who)!.sign(new Uint8Array(m)));

// Signatures are randomised, so each creation is signed once: every member starts from the same one.
const creations = new Map<string, SignedChange>();
function creation(members: string[] = ['bob', 'carol']): SignedChange {
  const key = members.join(',');
  let c = creations.get(key);
  if (!c) {
    c = signAs('alice', creationBody('alice', 'Team', members));
    creations.set(key, c);
  }
  return c;
}
/** The default group's id: a hash of its creation. */
const GROUP = creation().body.groupId;

function changeOn(s: GroupState, author: string, op: GroupOp, signer = author): SignedChange {
  return signAs(signer, { v: 1, groupId: s.groupId, revision: s.revision, parent: s.head, author, op });
}

function shuffled<T>(xs: readonly T[], seeds: readonly number[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = (seeds[i % seeds.length] ?? 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** One author's intent: which known state it builds on (crossing when two pick the same), who, what. */
const intent = fc.record({
  base: fc.nat(),
  author: fc.constantFrom(...HANDLES),
  op: fc.constantFrom('add', 'remove', 'leave', 'rename', 'promote', 'timer', 'allow-add'),
  target: fc.constantFrom(...HANDLES),
  forged: fc.boolean(),
});

function opFor(kind: string, target: string, n: number): GroupOp {
  switch (kind) {
    case 'add': return { type: 'add', handle: target };
    case 'remove': return { type: 'remove', handle: target };
    case 'leave': return { type: 'leave' };
    case 'promote': return { type: 'promote', handle: target };
    case 'timer': return { type: 'timer', seconds: n % 2 === 0 ? 30 : 0 };
    case 'allow-add': return { type: 'allow-add', on: n % 3 !== 0 };
    default: return { type: 'rename', name: `Team ${n}` };
  }
}

describe('group log convergence', () => {
  it('members that received the same changes in any order hold the same state', () => {
    fc.assert(
      fc.property(fc.array(intent, { minLength: 1, maxLength: 14 }), fc.array(fc.array(fc.nat(), { minLength: 8, maxLength: 8 }), { minLength: 3, maxLength: 3 }), (intents, orders) => {
        // The authors' side: each change is made on a state some member held at some point,
        // so changes cross (two on one revision) and some are invalid or forged.
        const author = GroupLog.create(creation(), verify);
        const states: GroupState[] = [author.state];
        const sent: SignedChange[] = [];
        intents.forEach((it, n) => {
          const base = states[it.base % states.length]!;
          const c = changeOn(base, it.author, opFor(it.op, it.target, n), it.forged ? (it.author === 'alice' ? 'bob' : 'alice') : it.author);
          sent.push(c);
          if (author.offer(c, verify).result === 'applied') states.push(author.state);
          else states.push(base);
        });
        const finals = orders.map((seeds) => {
          const log = GroupLog.create(creation(), verify);
          for (const c of shuffled(sent, seeds)) log.offer(c, verify);
          return log.state;
        });
        for (const s of finals) {
          expect(s).toEqual(author.state);
          expect(s.admins.every((a) => s.members.includes(a))).toBe(true);
          if (s.members.length > 0) expect(s.admins.length).toBeGreaterThan(0);
        }
        // A restored log (as read back from the vault) is the same too.
        expect(GroupLog.restore(author.data()).state).toEqual(author.state);
      }),
      { numRuns: 60 },
    );
  });

  it('of two admins\' changes for one revision the smaller hash wins, the other is refused by every member', () => {
    const start = GroupLog.create(creation(), verify);
    const promoteBob = changeOn(start.state, 'alice', { type: 'promote', handle: 'bob' });
    start.offer(promoteBob, verify);
    const base = start.state;
    const fresh = (): GroupLog => GroupLog.restore(start.data());
    const add = changeOn(base, 'alice', { type: 'add', handle: 'dave' });
    const rename = changeOn(base, 'bob', { type: 'rename', name: 'Renamed' });
    const [win, lose] = changeHash(add) < changeHash(rename) ? [add, rename] : [rename, add];
    for (const order of [[win, lose], [lose, win]]) {
      const m = fresh();
      for (const c of order) m.offer(c, verify);
      expect(m.state.revision).toBe(3);
      expect(m.state.head).toBe(changeHash(win));
      expect(m.onChain(changeHash(lose))).toBe(false);
    }
    // The loser's author re-issues it on the new head; everyone applies it next.
    const m = fresh();
    m.offer(lose, verify);
    m.offer(win, verify);
    const reissued = changeOn(m.state, lose.body.author, lose.body.op);
    expect(m.offer(reissued, verify)).toEqual({ result: 'applied' });
    expect(m.state.revision).toBe(4);
    expect(m.state.name === 'Renamed' && m.state.members.includes('dave')).toBe(true);
  });

  it('a change that arrives before its parent waits for it', () => {
    const a = GroupLog.create(creation(), verify);
    const c1 = changeOn(a.state, 'alice', { type: 'add', handle: 'dave' });
    a.offer(c1, verify);
    const c2 = changeOn(a.state, 'alice', { type: 'rename', name: 'Later' });
    const b = GroupLog.create(creation(), verify);
    expect(b.offer(c2, verify)).toEqual({ result: 'waiting' });
    expect(b.offer(c1, verify)).toEqual({ result: 'applied' });
    expect(b.state).toEqual({ ...a.state, name: 'Later', revision: 3, head: changeHash(c2) });
  });
});

describe('group log refusals', () => {
  const fresh = (): GroupLog => GroupLog.create(creation(), verify);

  it('refuses a change from a non-admin, and it changes nothing', () => {
    const log = fresh();
    const before = log.state;
    expect(log.offer(changeOn(before, 'bob', { type: 'add', handle: 'dave' }), verify)).toEqual({ result: 'refused', reason: 'not-admin' });
    expect(log.offer(changeOn(before, 'bob', { type: 'rename', name: 'Mine' }), verify)).toEqual({ result: 'refused', reason: 'not-admin' });
    expect(log.offer(changeOn(before, 'bob', { type: 'timer', seconds: 30 }), verify)).toEqual({ result: 'refused', reason: 'not-admin' });
    expect(log.offer(changeOn(before, 'dave', { type: 'leave' }), verify)).toEqual({ result: 'refused', reason: 'not-member' });
    expect(log.state).toEqual(before);
    expect(log.data().changes).toEqual([]);
  });

  it("refuses a change signed with someone else's key", () => {
    const log = fresh();
    const before = log.state;
    expect(log.offer(changeOn(before, 'alice', { type: 'remove', handle: 'bob' }, 'bob'), verify)).toEqual({ result: 'refused', reason: 'bad-signature' });
    // The body altered after signing: the signature no longer covers it.
    const good = changeOn(before, 'alice', { type: 'rename', name: 'Fine' });
    const altered: SignedChange = { ...good, body: { ...good.body, op: { type: 'rename', name: 'Evil' } } };
    expect(log.offer(altered, verify)).toEqual({ result: 'refused', reason: 'bad-signature' });
    expect(log.state).toEqual(before);
    expect(() => GroupLog.create({ ...creation(), sig: creation(['dave']).sig }, verify)).toThrow(GroupChangeRefused);
  });

  it('refuses a change for a stale revision and ignores a replayed one', () => {
    const log = fresh();
    const first = changeOn(log.state, 'alice', { type: 'add', handle: 'dave' });
    expect(log.offer(first, verify).result).toBe('applied');
    const afterFirst = log.state;
    expect(log.offer(first, verify)).toEqual({ result: 'duplicate' });
    expect(log.state).toEqual(afterFirst);
    // Moved on far past the stale change's revision.
    for (let i = 0; i < 70; i++) log.offer(changeOn(log.state, 'alice', { type: 'rename', name: `n${i}` }), verify);
    const stale = changeOn(afterFirst, 'alice', { type: 'remove', handle: 'bob' });
    const at = log.state;
    expect(log.offer(stale, verify)).toEqual({ result: 'refused', reason: 'stale' });
    // A revision number that does not match its parent's state is refused as well.
    const lying = signAs('alice', { ...changeOn(at, 'alice', { type: 'leave' }).body, revision: at.revision + 5 });
    expect(log.offer(lying, verify)).toEqual({ result: 'refused', reason: 'stale' });
    expect(log.state).toEqual(at);
  });

  it(`holds at most ${MAX_GROUP_MEMBERS} members`, () => {
    const many = Array.from({ length: MAX_GROUP_MEMBERS - 1 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    const log = GroupLog.create(creation(many), verify);
    expect(log.state.members).toHaveLength(MAX_GROUP_MEMBERS);
    expect(log.offer(changeOn(log.state, 'alice', { type: 'add', handle: 'dave' }), verify)).toEqual({ result: 'refused', reason: 'full' });
    expect(() => GroupLog.create(creation([...many, 'dave']), verify)).toThrow(GroupChangeRefused);
  });

  it('a joiner starts from the admin-signed add, the state it names signed by the adder, and the creation that binds the id', () => {
    const log = fresh();
    const add = changeOn(log.state, 'alice', { type: 'add', handle: 'dave' });
    log.offer(add, verify);
    const snap = (state: GroupState, by = 'alice', creationOf = creation()): { state: GroupState; creation: SignedChange; sig: string } => ({
      state,
      creation: creationOf,
      sig: Buffer.from(keys.get(by)!.sign(new Uint8Array(snapshotBytes(state)))).toString('base64'),
    });
    const joined = GroupLog.joined(add, snap(log.state), 'dave', verify);
    expect(joined.state).toEqual(log.state);
    expect(joined.creation()).toEqual(creation());
    expect(() => GroupLog.joined(add, snap({ ...log.state, admins: ['bob'] }), 'dave', verify)).toThrow(GroupChangeRefused);
    expect(() => GroupLog.joined(add, snap(log.state), 'erin', verify)).toThrow(GroupChangeRefused);
    // The state not signed by the adder, or a creation that does not bind the id, is refused.
    expect(() => GroupLog.joined(add, snap(log.state, 'bob'), 'dave', verify)).toThrow(GroupChangeRefused);
    expect(() => GroupLog.joined(add, { ...snap(log.state), state: { ...log.state, name: 'Altered' } }, 'dave', verify)).toThrow(GroupChangeRefused);
    expect(() => GroupLog.joined(add, snap(log.state, 'alice', creation(['dave'])), 'dave', verify)).toThrow(GroupChangeRefused);
    // The id binds the creation's body, not its signature: one not signed by the creator is refused
    // (a joiner hands it on as what binds the id).
    const forgedCreation = signAs('bob', creation().body);
    expect(() => GroupLog.joined(add, snap(log.state, 'alice', forgedCreation), 'dave', verify)).toThrow(GroupChangeRefused);
    const bobAdds = changeOn(fresh().state, 'bob', { type: 'add', handle: 'dave' });
    expect(() => GroupLog.joined(bobAdds, snap({ ...log.state, head: changeHash(bobAdds) }, 'bob'), 'dave', verify)).toThrow(GroupChangeRefused);
    // Changes older than the joiner's start are refused as stale, later ones apply.
    expect(joined.offer(changeOn(fresh().state, 'alice', { type: 'rename', name: 'Old' }), verify)).toEqual({ result: 'refused', reason: 'stale' });
    expect(joined.offer(changeOn(joined.state, 'alice', { type: 'rename', name: 'New' }), verify).result).toBe('applied');
    // Kept with the log, so a later joiner can be handed it.
    expect(GroupLog.restore(joined.data()).creation()).toEqual(creation());
  });

  it('a timer is one of the allowed durations, set by an admin', () => {
    const log = fresh();
    const c = changeOn(log.state, 'alice', { type: 'timer', seconds: 3600 });
    expect(parseSignedChange(JSON.parse(JSON.stringify(c)))).toEqual(c);
    expect(() => parseSignedChange({ ...c, body: { ...c.body, op: { type: 'timer', seconds: 31 } } })).toThrow(GroupChangeRefused);
    expect(log.offer(c, verify).result).toBe('applied');
    expect(log.state.timer).toBe(3600);
  });

  it('the last admin leaving hands the group to the first remaining member', () => {
    const log = fresh();
    log.offer(changeOn(log.state, 'alice', { type: 'leave' }), verify);
    expect(log.state.members).toEqual(['bob', 'carol']);
    expect(log.state.admins).toEqual(['bob']);
  });
});

/** Signs `body` again and again until its hash is below `below`: what an attacker who grinds signatures gets. */
function ground(who: string, body: ChangeBody, below: string): SignedChange {
  for (;;) {
    const c = signAs(who, body);
    if (changeHash(c) < below) return c;
  }
}

describe('a removed admin cannot undo the removal', () => {
  /** alice creates with bob and carol, makes bob an admin, renames; returns the log and those changes. */
  function scene(): { log: GroupLog; promote: SignedChange; rename: SignedChange } {
    const log = GroupLog.create(creation(), verify);
    const promote = changeOn(log.state, 'alice', { type: 'promote', handle: 'bob' });
    log.offer(promote, verify);
    const rename = changeOn(log.state, 'alice', { type: 'rename', name: 'Before' });
    log.offer(rename, verify);
    return { log, promote, rename };
  }

  it('a crossing change at the same revision with a smaller hash loses to the removal (it won on the old smallest-hash rule)', () => {
    const { log } = scene();
    const at = log.state;
    const removal = changeOn(at, 'alice', { type: 'remove', handle: 'bob' });
    const counter = ground('bob', { v: 1, groupId: GROUP, revision: at.revision, parent: at.head, author: 'bob', op: { type: 'rename', name: 'Bob rules' } }, changeHash(removal));
    for (const order of [[removal, counter], [counter, removal]]) {
      const m = GroupLog.restore(log.data());
      for (const c of order) expect(m.offer(c, verify).result).toBe('applied');
      expect(m.state.members).toEqual(['alice', 'carol']);
      expect(m.state.name).toBe('Before');
      expect(m.onChain(changeHash(counter))).toBe(false);
    }
  });

  it('a crossing change at an earlier revision loses too, whatever its hash', () => {
    const { log, rename } = scene();
    const removal = changeOn(log.state, 'alice', { type: 'remove', handle: 'bob' });
    log.offer(removal, verify);
    // bob forks below the rename, on the state just after he became an admin.
    const fork = ground('bob', { v: 1, groupId: GROUP, revision: rename.body.revision, parent: rename.body.parent, author: 'bob', op: { type: 'add', handle: 'dave' } }, changeHash(rename));
    expect(log.offer(fork, verify).result).toBe('applied');
    expect(log.state.members).toEqual(['alice', 'carol']);
    expect(log.state.head).toBe(changeHash(removal));
  });

  it("a member's leave crossing a removal, at its revision or an earlier one, never wins, whatever its hash (it won on the smallest-hash rule, bringing the removed one back)", () => {
    const { log, rename } = scene();
    const at = log.state;
    const removal = changeOn(at, 'alice', { type: 'remove', handle: 'bob' });
    const same = ground('carol', { v: 1, groupId: GROUP, revision: at.revision, parent: at.head, author: 'carol', op: { type: 'leave' } }, changeHash(removal));
    const earlier = ground('carol', { v: 1, groupId: GROUP, revision: rename.body.revision, parent: rename.body.parent, author: 'carol', op: { type: 'leave' } }, changeHash(rename));
    for (const order of [[removal, same, earlier], [earlier, same, removal], [same, removal, earlier]]) {
      const m = GroupLog.restore(log.data());
      for (const c of order) expect(m.offer(c, verify).result).toBe('applied');
      expect(m.state.members).toEqual(['alice', 'carol']);
      expect(m.state.head).toBe(changeHash(removal));
      expect(m.onChain(changeHash(same))).toBe(false);
      expect(m.onChain(changeHash(earlier))).toBe(false);
    }
    // carol's leave, issued again on the chosen chain, takes effect there.
    log.offer(removal, verify);
    const again = changeOn(log.state, 'carol', { type: 'leave' });
    expect(log.offer(again, verify).result).toBe('applied');
    expect(log.state.members).toEqual(['alice']);
  });

  it('two admins removing each other at once: the senior one (the creator) wins, whatever the hashes', () => {
    const { log } = scene();
    const at = log.state;
    const removal = changeOn(at, 'alice', { type: 'remove', handle: 'bob' });
    const counter = ground('bob', { v: 1, groupId: GROUP, revision: at.revision, parent: at.head, author: 'bob', op: { type: 'remove', handle: 'alice' } }, changeHash(removal));
    for (const order of [[removal, counter], [counter, removal]]) {
      const m = GroupLog.restore(log.data());
      for (const c of order) m.offer(c, verify);
      expect(m.state.members).toEqual(['alice', 'carol']);
      expect(m.state.admins).toEqual(['alice']);
    }
  });

  it('an author re-signing one change: two void each other, a third is refused (the siblings stay bounded)', () => {
    const { log } = scene();
    const at = log.state;
    const body: ChangeBody = { v: 1, groupId: GROUP, revision: at.revision, parent: at.head, author: 'bob', op: { type: 'rename', name: 'Again' } };
    expect(log.offer(signAs('bob', body), verify).result).toBe('applied');
    expect(log.state.name).toBe('Again');
    expect(log.offer(signAs('bob', body), verify).result).toBe('applied');
    expect(log.state).toEqual(at);
    for (let i = 0; i < 5; i++) expect(log.offer(signAs('bob', body), verify)).toEqual({ result: 'refused', reason: 'equivocation' });
    expect(log.data().changes).toHaveLength(4);
    // Someone else's change on that revision still goes through.
    expect(log.offer(changeOn(at, 'alice', { type: 'rename', name: 'Fine' }), verify).result).toBe('applied');
    expect(log.state.name).toBe('Fine');
  });

  it('property: whatever an admin removed at the end signs on any state where they were an admin, every member ends as without it', () => {
    const honest = fc.record({ base: fc.nat(), author: fc.constantFrom('alice', 'bob', 'carol', 'dave'), op: fc.constantFrom('add', 'remove', 'leave', 'rename', 'promote'), target: fc.constantFrom(...HANDLES) });
    const attack = fc.record({ base: fc.nat(), op: fc.constantFrom('add', 'rename', 'promote'), target: fc.constantFrom(...HANDLES) });
    fc.assert(
      fc.property(fc.array(honest, { maxLength: 10 }), fc.array(attack, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { minLength: 8, maxLength: 8 }), (intents, attacks, seeds) => {
        const author = GroupLog.create(creation(['bob', 'carol', 'frank']), verify);
        author.offer(changeOn(author.state, 'alice', { type: 'promote', handle: 'frank' }), verify);
        const states: GroupState[] = [author.state];
        const sent: SignedChange[] = [...author.data().changes];
        const used = new Set<string>();
        intents.forEach((it, n) => {
          const base = states[it.base % states.length]!;
          // An honest client signs one change per state it holds (two would void each other).
          if (used.has(`${it.author}@${base.head}`)) return;
          used.add(`${it.author}@${base.head}`);
          const c = changeOn(base, it.author, opFor(it.op, it.target, n));
          sent.push(c);
          states.push(author.offer(c, verify).result === 'applied' ? author.state : base);
        });
        const head = author.state;
        const remover = head.admins.find((a) => a !== 'frank');
        fc.pre(head.members.includes('frank') && remover !== undefined);
        const removal = changeOn(head, remover!, { type: 'remove', handle: 'frank' });
        author.offer(removal, verify);
        sent.push(removal);
        const expected = author.state;
        expect(expected.members).not.toContain('frank');
        // frank's forks: on any state he held as an admin (his own forks included), hashes ground below the honest child's where there is one.
        const frankStates = [...states, head].filter((s) => s.admins.includes('frank'));
        fc.pre(frankStates.length > 0);
        const forks: SignedChange[] = [];
        attacks.forEach((a, n) => {
          const base = frankStates[a.base % frankStates.length]!;
          const c = signAs('frank', { v: 1, groupId: base.groupId, revision: base.revision, parent: base.head, author: 'frank', op: opFor(a.op, a.target, 100 + n) });
          forks.push(c);
        });
        const m = GroupLog.create(creation(['bob', 'carol', 'frank']), verify);
        for (const c of shuffled([...sent, ...forks], seeds)) m.offer(c, verify);
        for (let i = 0; i < 3; i++) for (const c of [...sent, ...forks]) m.offer(c, verify); // parents that arrived late
        expect(m.state).toEqual(expected);
        // Read back from the vault (replayed, the chain chosen once): the same.
        expect(GroupLog.restore(m.data()).state).toEqual(expected);
      }),
      { numRuns: 80 },
    );
  });
});
