// Forks a removed admin can sign (main/messenger/group-state.ts, docs/protocol.md §9b), with real
// libsignal keys: seniority decides crossing removals only within FORK_WINDOW revisions of the
// fork, so a removed creator forking further back to remove its remover changes nothing; a fork
// behind one's own later change, or re-signing one's old change, changes nothing either; a
// removed author's losing branch is kept only up to a few changes, and old dead branches go.
import { PrivateKey } from '@signalapp/libsignal-client';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyChange,
  changeHash,
  creationBody,
  FINAL_DEPTH,
  FORK_WINDOW,
  GroupLog,
  MAX_DEAD_PER_AUTHOR,
  sign,
  type ChangeBody,
  type GroupOp,
  type GroupState,
  type SignedChange,
  type Verify,
} from '../../main/messenger/group-state.ts';

const HANDLES = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
const keys = new Map(HANDLES.map((h) => [h as string, PrivateKey.generate()]));
const verify: Verify = (author, message, sig) => {
  const k = keys.get(author);
  return k !== undefined && k.getPublicKey().verify(new Uint8Array(message), new Uint8Array(sig));
};
const signAs = (who: string, body: ChangeBody): SignedChange => sign(body, (m) => keys.get(who)!.sign(new Uint8Array(m)));
const creation = signAs('alice', creationBody('alice', 'Team', ['bob', 'carol', 'dave']));
const on = (s: GroupState, author: string, op: GroupOp): SignedChange => signAs(author, { v: 1, groupId: s.groupId, revision: s.revision, parent: s.head, author, op });

/** Applies `c` to a log, expecting it to take the head. */
function push(log: GroupLog, c: SignedChange): GroupState {
  expect(log.offer(c, verify).result).toBe('applied');
  expect(log.state.head).toBe(changeHash(c));
  return log.state;
}

/** alice creates, makes bob an admin; bob then makes `n` changes; returns the states after each. */
function history(n: number): { log: GroupLog; states: GroupState[]; sent: SignedChange[] } {
  const log = GroupLog.create(creation, verify);
  const sent: SignedChange[] = [];
  const states = [log.state];
  const step = (c: SignedChange): void => {
    sent.push(c);
    states.push(push(log, c));
  };
  step(on(log.state, 'alice', { type: 'promote', handle: 'bob' }));
  for (let i = 0; i < n; i++) step(on(log.state, 'bob', { type: 'rename', name: `Team ${i}` }));
  return { log, states, sent };
}

function member(sent: readonly SignedChange[]): GroupLog {
  const m = GroupLog.create(creation, verify);
  for (const c of sent) m.offer(c, verify);
  return m;
}

describe('a removed creator forking back', () => {
  it(`removing its remover more than ${FORK_WINDOW} revisions back changes nothing, in any order (seniority gave it the group before)`, () => {
    const { log, states, sent } = history(10);
    const removal = on(log.state, 'bob', { type: 'remove', handle: 'alice' });
    const honest = push(log, removal);
    // On every state at least FORK_WINDOW below the removal where bob's change came next.
    const forks = states.slice(1).filter((s) => removal.body.revision - s.revision >= FORK_WINDOW).map((s) => on(s, 'alice', { type: 'remove', handle: 'bob' }));
    expect(forks.length).toBeGreaterThan(3);
    for (const fork of forks) {
      // The fork comes after the changes it forks behind (a member that got them before, as
      // every member online then did; one that gets the fork first: docs/threat-model.md).
      for (const order of [[...sent, removal, fork], [removal, ...[...sent].reverse(), fork]]) {
        const m = member(order);
        expect(m.state).toEqual(honest);
        expect(m.onChain(changeHash(fork))).toBe(false);
      }
    }
  });

  it('within the window, removals that cross still go to the senior admin (at most FORK_WINDOW - 1 later changes go with them)', () => {
    const { log, states, sent } = history(4);
    const removal = on(log.state, 'bob', { type: 'remove', handle: 'alice' });
    push(log, removal);
    const near = states[states.length - FORK_WINDOW + 1]!; // the removal lies FORK_WINDOW - 1 below it
    const fork = on(near, 'alice', { type: 'remove', handle: 'bob' });
    const m = member([...sent, removal, fork]);
    expect(m.state.head).toBe(changeHash(fork));
    expect(m.state.members).toEqual(['alice', 'carol', 'dave']);
  });

  it('a fork behind a change of its own author loses even within the window (it had seen what it forks from)', () => {
    const { log, states, sent } = history(1);
    const seen = on(log.state, 'alice', { type: 'rename', name: 'Seen by alice' });
    push(log, seen);
    const removal = on(log.state, 'bob', { type: 'remove', handle: 'alice' });
    const honest = push(log, removal);
    const fork = on(states[states.length - 1]!, 'alice', { type: 'remove', handle: 'bob' });
    for (const order of [[...sent, seen, removal, fork], [...sent, seen, fork, removal]]) expect(member(order).state).toEqual(honest);
  });

  it('re-signing its own old change, the one the chain went on from, voids nothing (it truncated the chain before)', () => {
    const log = GroupLog.create(creation, verify);
    const own = on(log.state, 'alice', { type: 'promote', handle: 'bob' });
    const base = log.state;
    push(log, own);
    for (let i = 0; i < 6; i++) push(log, on(log.state, 'bob', { type: 'rename', name: `n${i}` }));
    const removal = on(log.state, 'bob', { type: 'remove', handle: 'alice' });
    const honest = push(log, removal);
    const again = on(base, 'alice', { type: 'rename', name: 'Mine' });
    const m = member([...log.data().changes, again]);
    expect(m.state).toEqual(honest);
  });

  it('property: whatever the removed creator signs on old states and builds on them, every member that applied the removal ends as without it', () => {
    const honestStep = fc.record({ author: fc.constantFrom('alice', 'bob', 'carol'), op: fc.constantFrom('add', 'remove', 'rename', 'promote', 'timer'), target: fc.constantFrom(...HANDLES) });
    const attack = fc.record({ base: fc.nat(), op: fc.constantFrom('remove', 'add', 'rename', 'promote'), target: fc.constantFrom(...HANDLES), extend: fc.array(fc.record({ op: fc.constantFrom('remove', 'add', 'rename'), target: fc.constantFrom(...HANDLES) }), { maxLength: 5 }) });
    const opFor = (kind: string, target: string, n: number): GroupOp =>
      kind === 'rename' ? { type: 'rename', name: `N${n}` } : kind === 'timer' ? { type: 'timer', seconds: 30 } : ({ type: kind, handle: target } as GroupOp);
    const valid = (s: GroupState, c: SignedChange): boolean => typeof applyChange(s, c, changeHash(c)) !== 'string';
    fc.assert(
      fc.property(fc.array(honestStep, { minLength: FORK_WINDOW, maxLength: 14 }), fc.array(attack, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { minLength: 6, maxLength: 6 }), (steps, attacks, seeds) => {
        const log = GroupLog.create(creation, verify);
        const sent: SignedChange[] = [];
        const states: GroupState[] = [log.state];
        const step = (c: SignedChange): void => {
          if (!valid(log.state, c)) return;
          sent.push(c);
          states.push(push(log, c));
        };
        step(on(log.state, 'alice', { type: 'promote', handle: 'bob' }));
        steps.forEach((st, n) => step(on(log.state, st.author, opFor(st.op, st.target, n))));
        fc.pre(log.state.admins.includes('bob') && log.state.members.includes('alice') && !log.state.admins.every((a) => a === 'alice' || a === 'bob'));
        const removal = on(log.state, 'bob', { type: 'remove', handle: 'alice' });
        step(removal);
        const honest = log.state;
        // The states alice held as an admin with no removal of hers within FORK_WINDOW above them
        // (she may have been removed and added again before the last removal).
        const old = states.filter((s, i) => s.admins.includes('alice') && i + FORK_WINDOW < states.length && states.slice(i, i + FORK_WINDOW + 1).every((t) => t.members.includes('alice')));
        fc.pre(old.length > 0);
        const forks: SignedChange[] = [];
        attacks.forEach((a, n) => {
          let s = old[a.base % old.length]!;
          const fork = on(s, 'alice', opFor(a.op, a.target, 100 + n));
          if (!valid(s, fork)) return;
          forks.push(fork);
          s = applyChange(s, fork, changeHash(fork)) as GroupState;
          a.extend.forEach((e, k) => {
            const c = on(s, 'alice', opFor(e.op, e.target, 200 + 10 * n + k));
            if (!valid(s, c)) return;
            forks.push(c);
            s = applyChange(s, c, changeHash(c)) as GroupState;
          });
        });
        const order = [...forks];
        for (let i = order.length - 1; i > 0; i--) {
          const j = (seeds[i % seeds.length] ?? 0) % (i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const m = member(sent);
        for (let i = 0; i < 2; i++) for (const c of order) m.offer(c, verify);
        expect(m.state).toEqual(honest);
        expect(GroupLog.restore(m.data()).state).toEqual(honest);
        // What a member keeps of the removed creator's branches is bounded.
        const chain = new Set(m.chainHashes());
        expect(m.data().changes.filter((c) => c.body.author === 'alice' && !chain.has(changeHash(c))).length).toBeLessThanOrEqual(MAX_DEAD_PER_AUTHOR);
      }),
      { numRuns: 120 },
    );
  });
});

describe('what a member keeps of losing branches', () => {
  it(`a removed admin's changes on its own losing branch: ${MAX_DEAD_PER_AUTHOR} kept, the rest refused, so storage and replay stay bounded`, () => {
    const { log, states } = history(2);
    const removal = on(log.state, 'bob', { type: 'remove', handle: 'alice' });
    const honest = push(log, removal);
    let s = states[states.length - 1]!;
    const results: string[] = [];
    for (let i = 0; i < 30; i++) {
      const c = on(s, 'alice', { type: 'rename', name: `Alice ${i}` });
      s = applyChange(s, c, changeHash(c)) as GroupState;
      const r = log.offer(c, verify);
      results.push(r.result === 'refused' ? r.reason : r.result);
    }
    expect(results.filter((r) => r === 'applied')).toHaveLength(MAX_DEAD_PER_AUTHOR);
    expect(results.filter((r) => r === 'dead-branch').length + results.filter((r) => r === 'waiting').length).toBe(30 - MAX_DEAD_PER_AUTHOR);
    expect(log.state).toEqual(honest);
    expect(log.data().changes.length).toBeLessThanOrEqual(states.length - 1 + 1 + MAX_DEAD_PER_AUTHOR);
  });

  it(`a branch forked more than ${FINAL_DEPTH} revisions below the head is dropped`, () => {
    const { log, states } = history(2);
    const dead = on(states[2]!, 'carol', { type: 'leave' }); // loses to bob's rename (a leave yields)
    expect(log.offer(dead, verify).result).toBe('applied');
    expect(log.onChain(changeHash(dead))).toBe(false);
    expect(log.data().changes.map(changeHash)).toContain(changeHash(dead));
    for (let i = 0; i < FINAL_DEPTH + 2; i++) push(log, on(log.state, 'bob', { type: 'rename', name: `later ${i}` }));
    expect(log.data().changes.map(changeHash)).not.toContain(changeHash(dead));
    expect(GroupLog.restore(log.data()).state).toEqual(log.state);
  });
});

describe('the setting that lets every member add', () => {
  it("a member adds only while an admin's signed change allows it; the member's add crossing the admin's turning it off loses, whatever its hash", () => {
    const log = GroupLog.create(creation, verify);
    expect(log.offer(on(log.state, 'carol', { type: 'add', handle: 'erin' }), verify)).toEqual({ result: 'refused', reason: 'not-admin' });
    expect(log.offer(on(log.state, 'carol', { type: 'allow-add', on: true }), verify)).toEqual({ result: 'refused', reason: 'not-admin' });
    push(log, on(log.state, 'alice', { type: 'allow-add', on: true }));
    expect(log.state.membersCanAdd).toBe(true);
    expect(log.offer(on(log.state, 'alice', { type: 'allow-add', on: true }), verify)).toEqual({ result: 'refused', reason: 'invalid' });
    const at = log.state;
    const off = on(at, 'alice', { type: 'allow-add', on: false });
    // carol grinds her add's hash below the admin's change.
    let add: SignedChange;
    do add = on(at, 'carol', { type: 'add', handle: 'erin' });
    while (changeHash(add) > changeHash(off));
    for (const order of [[off, add], [add, off]]) {
      const m = GroupLog.restore(log.data());
      for (const c of order) expect(m.offer(c, verify).result).toBe('applied');
      expect(m.state.head).toBe(changeHash(off));
      expect(m.state.members).not.toContain('erin');
      expect(m.offer(on(m.state, 'carol', { type: 'add', handle: 'erin' }), verify)).toEqual({ result: 'refused', reason: 'not-admin' });
    }
    // While it is on, the member's add applies like an admin's.
    const m = GroupLog.restore(log.data());
    push(m, on(at, 'carol', { type: 'add', handle: 'erin' }));
    expect(m.state.members).toContain('erin');
  });
});
