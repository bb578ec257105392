// "Delete conversation" killed (SIGKILL) after its first slice (issue #14: "the same after a
// crash in the middle of a deletion, followed by a restart"): the next unlock finishes the vault's
// slices and, from the deletion journal, the messenger's records of every message (content ids,
// delivery times, timers, the file's sealed chunks, the draft), and the withdraws of our sends the
// relay still holds go out once connected, also for the slices the child never reached. Then no
// file of the profile holds the words, in plaintext or decrypted with the vault's keys in hand.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ATTACHMENT_CHUNKS, ATTACHMENTS, MESSAGE_ATTACHMENTS } from '../../main/messenger/attachment-store.ts';
import { TOMBSTONES } from '../../main/messenger/delete-for-everyone.ts';
import { journalEntries } from '../../main/messenger/deletion-journal.ts';
import { INCOMING_CONTENT_IDS, MESSAGE_TIMERS, OUTGOING_CONTENT_IDS, PENDING_SENDS, QUOTABLE_CONTENT_IDS, REPLY_TO, STATE_TIMES } from '../../main/messenger/ids.ts';
import { Vault } from '../../main/vault/index.ts';
import { filesContaining, fullHistory, helloPair, messagingScene, PASSWORD, queuedEnvelopes, reopen, tempDir, waitFor } from './helpers.ts';
import { decryptedScan, observeVaultSubkeys } from './profile-scan.ts';

const scene = messagingScene('delconv-crash', ['alice', 'bob'] as const);
const QUEUED = 'quibblefrostwick'; // our sends the relay holds for bob when the deletion starts
const DELIVERED = 'marzipantroll'; // our sends bob received (delivery times recorded)
const INCOMING = 'glimmerwhatnot'; // bob's message to us
const FILE = 'sprocketvelour'; // in the file we sent (sealed chunks)
const DRAFT = 'noodlepandemic';
const WORDS = [QUEUED, DELIVERED, INCOMING, FILE, DRAFT];
// More than two segments of 64: the first slice (two segments) is all the child commits.
const QUEUED_COUNT = 150;

describe('delete conversation, SIGKILL mid-way', () => {
  it('after the restart nothing of it is in any file, and every envelope the relay held for it is withdrawn', { timeout: 240_000 }, async () => {
    const observer = observeVaultSubkeys();
    const { alice, bob, toBob, toAlice } = await helloPair(scene);
    await alice.m.setDisappearingTimer({ conversationId: toBob, seconds: 7 * 86_400 });
    for (let i = 0; i < 2; i++) await alice.m.sendText({ conversationId: toBob, text: `delivered ${i} ${DELIVERED}` });
    await bob.m.sendText({ conversationId: toAlice, text: `from bob ${INCOMING}` });
    await waitFor(async () => (await fullHistory(alice.m, toBob)).some((m) => m.text.includes(INCOMING)), 60_000, 'alice has bob\'s message');
    await waitFor(async () => (await fullHistory(alice.m, toBob)).filter((m) => m.text.includes(DELIVERED) && m.state === 'delivered').length === 2, 60_000, 'deliveries');
    await waitFor(async () => (await fullHistory(bob.m, toAlice)).filter((m) => m.text.includes(DELIVERED)).length === 2, 60_000, 'bob has them');
    await bob.m.close();
    // What the relay holds for bob before the sends to delete, alice's receipt for his message
    // among it (that one is withdrawn too once the conversation is deleted).
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const notOurs = queuedEnvelopes(scene.dirs.relay);

    const files = tempDir('delconv-crash-files');
    try {
      const path = join(files.dir, 'notes.txt');
      writeFileSync(path, `the file says ${FILE} `.repeat(200));
      await alice.m.sendFile({ conversationId: toBob, path, caption: 'a file' });
    } finally {
      files.cleanup();
    }
    for (let i = 0; i < QUEUED_COUNT; i++) await alice.m.sendText({ conversationId: toBob, text: `queued ${i} ${QUEUED}` });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await alice.m.setDraft({ conversationId: toBob, text: `draft ${DRAFT}` });
    const before = await fullHistory(alice.m, toBob);
    const ids = before.map((m) => m.id);
    expect(ids.length).toBeGreaterThan(2 * 64);
    // Our sends and the file's announcement wait for bob at the relay.
    expect(queuedEnvelopes(scene.dirs.relay).length).toBe(notOurs.length + QUEUED_COUNT + 1);
    await alice.m.close();

    const child = fileURLToPath(new URL('./delete-conversation-crash-child.ts', import.meta.url));
    const res = spawnSync(process.execPath, ['--import', 'tsx', child, scene.dirs.alice, PASSWORD, toBob], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(res.signal, res.stderr).toBe('SIGKILL');
    const progress = JSON.parse(res.stdout.trim()) as { done: number; total: number };
    expect(progress.done).toBeGreaterThan(0);
    expect(progress.done).toBeLessThan(ids.length);
    expect(progress.total).toBe(ids.length);
    expect((await filesContaining(scene.dirs.alice, QUEUED)).length + (await decryptedScan(scene.dirs.alice, [QUEUED], observer.keys)).length).toBeGreaterThan(0);

    const alice2 = await reopen(scene.dirs.alice);
    scene.peers.push(alice2);
    // Already at unlock, before any page: none of it, nor its draft, nor a search hit.
    expect(await fullHistory(alice2.m, toBob)).toEqual([]);
    expect(await alice2.m.getDraft({ conversationId: toBob })).toEqual({ text: '' });
    for (const w of WORDS) expect((await alice2.m.search({ query: w, order: 'newest', limit: 10 })).hits, w).toEqual([]);
    // The withdraws (sealed in the outbox, from the child's slice and from the resume) reach the relay.
    expect(await alice2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    await waitFor(async () => (await alice2.m.connectionState()).outboxSize === 0, 60_000, 'outbox drained');
    // Only what waited for bob before (alice's receipt for his message, if it still waited, was
    // withdrawn too: receipt-withdraw.ts, test/messaging/receipt-withdraw.test.ts).
    expect(queuedEnvelopes(scene.dirs.relay).every((e) => notOurs.some((n) => n.equals(e)))).toBe(true);
    await alice2.m.close();

    // Every record the messenger kept by those ids is gone, and no journal or pending record is left.
    const vault = await Vault.unlock(scene.dirs.alice, PASSWORD);
    try {
      expect(vault.pendingDeletions()).toBe(0);
      expect(journalEntries(vault)).toBe(0);
      for (const ns of [OUTGOING_CONTENT_IDS, INCOMING_CONTENT_IDS, QUOTABLE_CONTENT_IDS, STATE_TIMES, REPLY_TO, MESSAGE_TIMERS, TOMBSTONES, MESSAGE_ATTACHMENTS]) {
        expect(ids.filter((id) => vault.kvGet(ns, id) !== undefined), ns).toEqual([]);
      }
      expect(vault.kvKeys(ATTACHMENTS)).toEqual([]);
      expect(vault.kvKeys(ATTACHMENT_CHUNKS)).toEqual([]);
      expect(vault.kvKeys(PENDING_SENDS)).toEqual([]);
    } finally {
      vault.lock();
    }
    for (const w of WORDS) expect(await filesContaining(scene.dirs.alice, w), w).toEqual([]);
    expect(await decryptedScan(scene.dirs.alice, WORDS, observer.keys)).toEqual([]);
    observer.uninstall();

    // Bob, back, gets none of what was withdrawn.
    const bob2 = await reopen(scene.dirs.bob);
    scene.peers.push(bob2);
    expect(await bob2.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect((await fullHistory(bob2.m, toAlice)).filter((m) => m.text.includes(QUEUED) || m.text === 'a file')).toEqual([]);
  });
});
