// "Delete for everyone" between two Messengers on a real relay child process (issue #14): both
// sides keep a tombstone without text (no file of either profile holds the words, search finds
// nothing), both announce it; refusals change nothing. Across a relay SIGKILL the delete arrives
// exactly once, and the original, arriving after its delete, is stored as a tombstone, never shown.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { apiEvents, type Message } from '../../shared/api.ts';
import { RelayProcess } from '../chaos/relay-process.ts';
import { codeOf, filesContaining, fullHistory, newPeer, PASSWORD, startRelay, tempDir, waitFor, type Peer } from './helpers.ts';

const dirs = { relay: tempDir('dfe-relay'), alice: tempDir('dfe-alice'), bob: tempDir('dfe-bob'), carol: tempDir('dfe-carol') };
const procs: RelayProcess[] = [];
const peers: Peer[] = [];
afterAll(async () => {
  for (const p of peers) await p.m.close();
  for (const p of procs) await p.kill();
  for (const d of Object.values(dirs)) d.cleanup();
});

const tombstones = (h: Message[]): Message[] => h.filter((m) => m.deleted === true);
const announced = (p: Peer): Message[] =>
  p.events.filter((e) => e.name === 'deletedForEveryone').flatMap((e) => apiEvents.deletedForEveryone.parse(e.payload).messages);

interface QueueRow { id: number; recipient: Buffer; sender_handle: string; body: Buffer; created_at: number; expires_at: number }
function queueRows(): QueueRow[] {
  const db = new Database(join(dirs.relay.dir, 'relay.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, recipient, sender_handle, body, created_at, expires_at FROM queue ORDER BY id').all() as QueueRow[];
  } finally {
    db.close();
  }
}

describe('delete for everyone', () => {
  let alice: Peer;
  let bob: Peer;
  let port = 0;
  let toBob = '';
  let toAlice = '';

  it('both sides keep a tombstone without the text; refusals change nothing', async () => {
    const started = await startRelay(dirs.relay.dir);
    procs.push(started.relay);
    port = started.port;
    alice = await newPeer(dirs.alice.dir, 'alice', started.descriptorText);
    bob = await newPeer(dirs.bob.dir, 'bob', started.descriptorText);
    const carol = await newPeer(dirs.carol.dir, 'carol', started.descriptorText);
    peers.push(alice, bob, carol);
    toBob = (await alice.m.contactAdd({ handle: 'bob' })).conversationId;
    await alice.m.sendText({ conversationId: toBob, text: 'hello bob' });
    const secret = await alice.m.sendText({ conversationId: toBob, text: 'the zanzibarquokka plan' });
    await waitFor(async () => (await bob.m.contactsList()).length === 1, 60_000, 'bob sees alice');
    toAlice = (await bob.m.contactsList())[0]!.conversationId;
    await waitFor(async () => (await fullHistory(bob.m, toAlice)).length === 2, 60_000, 'bob has both');
    const reply = await bob.m.sendText({ conversationId: toAlice, text: 'noted' });
    await waitFor(async () => (await fullHistory(alice.m, toBob)).length === 3, 60_000, 'alice has the reply');
    expect((await bob.m.search({ query: 'zanzibarquokka', order: 'newest', limit: 10 })).hits).toHaveLength(1);

    // Refused, nothing changes: another's message (both ways), a message of another chat.
    const bobsCopy = (await fullHistory(bob.m, toAlice)).find((m) => m.text.includes('zanzibarquokka'))!;
    expect(await codeOf(bob.m.deleteMessage({ conversationId: toAlice, messageId: bobsCopy.id, forEveryone: true }))).toBe('FORBIDDEN');
    const replyAtAlice = (await fullHistory(alice.m, toBob)).find((m) => m.direction === 'in')!;
    expect(await codeOf(alice.m.deleteMessage({ conversationId: toBob, messageId: replyAtAlice.id, forEveryone: true }))).toBe('FORBIDDEN');
    const toCarol = (await alice.m.contactAdd({ handle: 'carol' })).conversationId;
    expect(await codeOf(alice.m.deleteMessage({ conversationId: toCarol, messageId: secret.id, forEveryone: true }))).toBe('UNKNOWN_MESSAGE');
    expect((await fullHistory(bob.m, toAlice)).map((m) => m.text)).toEqual(['hello bob', 'the zanzibarquokka plan', 'noted']);

    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: secret.id, forEveryone: true })).toEqual({ deleted: 1 });
    // Alice: at once, in place, announced.
    const mine = await fullHistory(alice.m, toBob);
    expect(mine.map((m) => [m.id, m.text, m.deleted ?? false])).toEqual([
      [mine[0]!.id, 'hello bob', false], [secret.id, '', true], [mine[2]!.id, 'noted', false],
    ]);
    expect(announced(alice).map((m) => m.id)).toEqual([secret.id]);
    // Bob: the same message becomes a tombstone where it was, announced once.
    await waitFor(async () => tombstones(await fullHistory(bob.m, toAlice)).length === 1, 60_000, 'bob sees the tombstone');
    const theirs = await fullHistory(bob.m, toAlice);
    expect(theirs.map((m) => [m.text, m.deleted ?? false, m.sender])).toEqual([['hello bob', false, bobsCopy.sender], ['', true, bobsCopy.sender], ['noted', false, 'self']]);
    expect(theirs[1]).toMatchObject({ id: bobsCopy.id, orderKey: bobsCopy.orderKey, sentAt: bobsCopy.sentAt });
    expect(announced(bob).map((m) => [m.id, m.deleted])).toEqual([[bobsCopy.id, true]]);
    expect(reply.text).toBe('noted');
    for (const p of [alice, bob]) {
      expect((await p.m.search({ query: 'zanzibarquokka', order: 'newest', limit: 10 })).hits).toEqual([]);
    }
    // A jump to it (a search result shown before the delete) lands on the tombstone, never on its text.
    const around = await bob.m.historyPage({ conversationId: toAlice, anchor: { kind: 'around', messageId: bobsCopy.id }, limit: 20 });
    expect(around.messages.map((m) => [m.id === bobsCopy.id, m.text, m.deleted ?? false])).toEqual([[false, 'hello bob', false], [true, '', true], [false, 'noted', false]]);
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    // Deleting it again is a no-op.
    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: secret.id, forEveryone: true })).toEqual({ deleted: 0 });
    // No file of either profile holds the text in plaintext (test/vault/redact.test.ts decrypts them too).
    expect(await filesContaining(dirs.bob.dir, 'zanzibarquokka')).toEqual([]);
    expect(await filesContaining(dirs.alice.dir, 'zanzibarquokka')).toEqual([]);
  });

  it('across a relay SIGKILL: the delete arrives once; the original arriving after it stays a tombstone', async () => {
    await bob.m.lock();
    const late = await alice.m.sendText({ conversationId: toBob, text: 'plorkzingvex arrives late' });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const before = queueRows();
    const original = before.at(-1)!;
    expect(original.sender_handle).toBe('alice');

    expect(await alice.m.deleteMessage({ conversationId: toBob, messageId: late.id, forEveryone: true })).toEqual({ deleted: 1 });
    expect(await alice.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    // The relay withdrew the original and holds the delete (a new envelope) instead.
    await waitFor(() => !queueRows().some((r) => r.id === original.id), 30_000, 'the original withdrawn');
    const held = queueRows().filter((r) => r.recipient.equals(original.recipient));
    expect(held).toHaveLength(before.filter((r) => r.recipient.equals(original.recipient)).length);
    expect(held.at(-1)!.id).toBeGreaterThan(original.id);

    // SIGKILL between send and delivery; the original is put back behind its delete, as if it came late.
    await procs.at(-1)!.kill('SIGKILL');
    const db = new Database(join(dirs.relay.dir, 'relay.db'));
    try {
      db.prepare('INSERT INTO queue (id, recipient, sender_handle, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(held.at(-1)!.id + 1, original.recipient, original.sender_handle, original.body, original.created_at, original.expires_at);
    } finally {
      db.close();
    }
    procs.push(await RelayProcess.start(dirs.relay.dir, port));

    bob.events.length = 0;
    await bob.m.unlock({ password: PASSWORD });
    await waitFor(async () => (await fullHistory(bob.m, toAlice)).length === 4, 60_000, 'bob has the late one');
    expect(await bob.m.sync({ timeoutMs: 60_000 })).toEqual({ done: true });
    const h = await fullHistory(bob.m, toAlice);
    expect(h.map((m) => [m.text, m.deleted ?? false])).toEqual([['hello bob', false], ['', true], ['noted', false], ['', true]]);
    // Announced as a tombstone, never as a new message (no notification with its text).
    expect(bob.events.filter((e) => e.name === 'message')).toEqual([]);
    expect(announced(bob).map((m) => m.id)).toEqual([h[3]!.id]);
    expect((await bob.m.search({ query: 'plorkzingvex', order: 'newest', limit: 10 })).hits).toEqual([]);
    // The chat list's preview of a tombstone says so.
    expect((await bob.m.conversationsList({})).find((c) => c.id === toAlice)?.lastMessage?.text).toBe('This message was deleted');
    expect(queueRows().filter((r) => r.recipient.equals(original.recipient))).toEqual([]);
    expect(await filesContaining(dirs.bob.dir, 'plorkzingvex')).toEqual([]);
    expect(await filesContaining(dirs.alice.dir, 'plorkzingvex')).toEqual([]);
    const mine = await fullHistory(alice.m, toBob);
    expect(mine.find((m) => m.id === late.id)).toMatchObject({ text: '', deleted: true });
  });
});
