// Disappearing messages (issue #14) between real messengers on a real relay process, with real
// time (a 30 s timer): both sides apply a timer change and show it; a text carries the timer it
// was sent under (a later change does not alter it); the sender's countdown starts at send, the
// recipient's when historyPage first returns the message. Then expiry: while running (the sender,
// without any call), while locked (bob) and while the messenger is closed (carol): after unlock
// nothing expired is on the first page, in search or reachable by a jump; and with every vault
// subkey in hand no file of any profile decrypts to the words.
import { describe, expect, it } from 'vitest';
import type { HistoryPage, Message } from '../../shared/api.ts';
import { fullHistory, messagingScene, peersOn, PASSWORD, reopen, waitFor, type Peer } from './helpers.ts';
import { decryptedScan, observeVaultSubkeys, plaintextScan, snapshotsOpened } from './profile-scan.ts';

const scene = messagingScene('disappear', ['alice', 'bob', 'carol'] as const);
const GONE = ['quixoticzebrafog', 'marmaladeoctopine'] as const;
const KEPT = 'steadfastpangolin';

const texts = (ms: readonly Message[]) => ms.map((m) => (m.timerChange ? `[timer ${m.timerChange.seconds}]` : m.text));
const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

async function hits(p: Peer, word: string): Promise<string[]> {
  return (await p.m.search({ query: word, order: 'newest', limit: 10 })).hits.map((h) => h.messageId);
}

describe('disappearing messages', () => {
  it('apply on both sides, count down from send and from first shown, and are gone after expiry (running, locked, closed)', { timeout: 300_000 }, async () => {
    const observer = observeVaultSubkeys();
    try {
      const { alice, bob, carol } = await peersOn(scene, ['alice', 'bob', 'carol']);
      const toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
      const toCarol = (await alice.m.contactAdd({ handle: 'carol' })).conversationId;
      await alice.m.sendText({ conversationId: toBob, text: `the ${KEPT} stays` });

      const summary = await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 30 });
      expect(summary.timerSeconds).toBe(30);
      expect(summary.lastMessage?.text).toBe('You set messages to disappear after 30 seconds');
      await alice.m.setDisappearingTimer({ conversationId: toCarol, seconds: 30 });
      const m1 = await alice.m.sendText({ conversationId: toBob, text: `the ${GONE[0]} runs` });
      expect(m1.timerSeconds).toBe(30);
      expect(m1.expiresAt).toBe(m1.sentAt + 30_000);
      const m3 = await alice.m.sendText({ conversationId: toCarol, text: `the ${GONE[1]} waits` });
      for (const p of [alice, bob, carol]) expect(await p.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });

      // Bob applied the change and shows it; the text carries the timer, its countdown not started.
      const bobConv = (await bob.m.conversationsList({})).find((c) => c.title === 'alice');
      expect(bobConv?.timerSeconds).toBe(30);
      const arrived = bob.events.flatMap((e) => (e.name === 'message' && e.payload.text.includes(GONE[0]) ? [e.payload] : []));
      expect(arrived[0]).toMatchObject({ timerSeconds: 30, expiresAt: null });
      const shownAt = Date.now();
      const page = await bob.m.historyPage({ conversationId: bobConv!.id, anchor: { kind: 'newest' }, limit: 50 });
      expect(texts(page.messages)).toEqual([`the ${KEPT} stays`, '[timer 30]', `the ${GONE[0]} runs`]);
      expect(page.messages[1]).toMatchObject({ direction: 'in', timerChange: { seconds: 30 } });
      const bobExpiry = page.messages[2]!.expiresAt!;
      expect(bobExpiry).toBeGreaterThanOrEqual(shownAt + 30_000);
      // Shown again: the countdown is not restarted.
      expect((await bob.m.historyPage({ conversationId: bobConv!.id, anchor: { kind: 'newest' }, limit: 50 })).messages[2]!.expiresAt).toBe(bobExpiry);
      expect(await hits(bob, GONE[0])).toHaveLength(1);

      // A later change does not alter a message sent before it.
      await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 0 });
      const m2 = await alice.m.sendText({ conversationId: toBob, text: 'after the timer' });
      expect(m2.timerSeconds).toBeUndefined();
      expect((await fullHistory(alice.m, toBob)).find((m) => m.id === m1.id)).toMatchObject({ timerSeconds: 30, expiresAt: m1.expiresAt });

      // Carol shows hers, then her messenger is closed (the process is down when it expires).
      const carolConv = (await carol.m.conversationsList({}))[0]!;
      const carolPage = await carol.m.historyPage({ conversationId: carolConv.id, anchor: { kind: 'newest' }, limit: 50 });
      const carolExpiry = carolPage.messages.find((m) => m.text.includes(GONE[1]))!.expiresAt!;
      await carol.m.close();
      scene.peers.splice(scene.peers.indexOf(carol), 1);
      expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
      await bob.m.lock();

      // The sender's copy expires while it runs, with no call: announced, gone from history and search.
      await waitFor(
        () => alice.events.some((e) => e.name === 'messagesDeleted' && e.payload.messageIds.includes(m1.id)),
        90_000,
        'the sender-side expiry',
      );
      expect(Date.now()).toBeGreaterThanOrEqual(m1.expiresAt!);
      expect(texts(await fullHistory(alice.m, toBob))).toEqual([`the ${KEPT} stays`, '[timer 30]', '[timer 0]', 'after the timer']);
      expect(await hits(alice, GONE[0])).toEqual([]);
      await waitFor(async () => (await hits(alice, GONE[1])).length === 0, 60_000, 'the carol-side message to expire at the sender');
      expect(m3.expiresAt).toBeLessThanOrEqual(Date.now());

      await sleepUntil(Math.max(bobExpiry, carolExpiry) + 50);

      // Bob unlocks after his copy expired: the first page, asked for the moment the vault says unlocked, lacks it.
      let firstPage: Promise<HistoryPage> | undefined;
      const off = bob.m.subscribe((e) => {
        if (e.name === 'vault' && e.payload.vault === 'unlocked') firstPage ??= bob.m.historyPage({ conversationId: bobConv!.id, anchor: { kind: 'newest' }, limit: 50 });
      });
      await bob.m.unlock({ password: PASSWORD });
      off();
      expect(firstPage).toBeDefined();
      expect(texts((await firstPage!).messages)).not.toContain(`the ${GONE[0]} runs`);
      expect(await hits(bob, GONE[0])).toEqual([]);
      // A jump to it (as from an old search result) finds nothing.
      const bobGoneId = page.messages[2]!.id;
      await expect(bob.m.historyPage({ conversationId: bobConv!.id, anchor: { kind: 'around', messageId: bobGoneId }, limit: 20 })).rejects.toMatchObject({
        code: 'UNKNOWN_MESSAGE',
      });

      // Carol's messenger starts again after hers expired: gone before anything is shown.
      const carol2 = await reopen(scene.dirs.carol);
      scene.peers.push(carol2);
      expect(texts(await fullHistory(carol2.m, carolConv.id))).toEqual(['[timer 30]']);
      expect(await hits(carol2, GONE[1])).toEqual([]);

      // With every subkey in hand, no file of any profile decrypts to the words; the kept word is found (the scan works).
      for (const p of [...scene.peers]) await p.m.close();
      scene.peers.length = 0;
      for (const dir of [scene.dirs.alice, scene.dirs.bob, scene.dirs.carol]) {
        expect(await plaintextScan(dir, GONE), dir).toEqual([]);
        expect(await decryptedScan(dir, GONE, observer.keys), dir).toEqual([]);
        expect(await snapshotsOpened(dir, observer.keys), dir).toBe(1);
      }
      expect(await decryptedScan(scene.dirs.bob, [KEPT], observer.keys)).toEqual([KEPT]);
    } finally {
      observer.uninstall();
    }
  });
});
