// The Messenger as the hosts see it: every result and event parses with the strict schemas of
// shared/api.ts (nothing extra, such as a key, can cross), vault lifecycle, error codes,
// connection phases, history anchors, unread counts, and backup export/open/import with
// progress events. Against a real relay process.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiEvents, apiMethods, type ApiEvent, type MethodName } from '../../shared/api.ts';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import type { RelayProcess } from '../chaos/relay-process.ts';
import { fullHistory, newPeer, PASSWORD, startRelay, tempDir, waitFor, codeOf } from './helpers.ts';

const relayDir = tempDir('svc-relay');
const aDir = tempDir('svc-a');
const bDir = tempDir('svc-b');
const cDir = tempDir('svc-c');
const backupDir = tempDir('svc-backup');
let relay: RelayProcess | undefined;
const toClose: Messenger[] = [];

afterAll(async () => {
  for (const m of toClose) await m.close();
  await relay?.kill();
  for (const d of [relayDir, aDir, bDir, cDir, backupDir]) d.cleanup();
});

/** Wraps a messenger so every result is checked against the API's result schema. */
function checked(m: Messenger): Messenger {
  return new Proxy(m, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== 'string' || !Object.hasOwn(apiMethods, prop) || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const result = (await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as unknown;
        apiMethods[prop as MethodName].result.parse(result);
        return result;
      };
    },
  });
}

function checkEvents(events: ApiEvent[]): void {
  for (const e of events) apiEvents[e.name].parse(e.payload);
}

describe('Messenger service contract', () => {
  it('lifecycle, errors, connection phases, history, unread, backups; all shapes valid', async () => {
    const started = await startRelay(relayDir.dir);
    relay = started.relay;

    const raw = await openMessenger({ profileDir: aDir.dir, kdf: TEST_KDF, relayTimeoutMs: 1500 });
    toClose.push(raw);
    const a = checked(raw);
    const events: ApiEvent[] = [];
    raw.subscribe((e) => events.push(e));

    expect((await a.vaultStatus()).vault).toBe('none');
    expect(await codeOf(a.unlock({ password: PASSWORD }))).toBe('NO_VAULT');
    const { recoveryPhrase } = await a.createVault({ password: PASSWORD });
    expect(recoveryPhrase.split(' ')).toHaveLength(24);
    expect(await a.confirmRecoveryPhrase({ recoveryPhrase: 'abandon '.repeat(24).trim() })).toEqual({ confirmed: false });
    expect(await a.confirmRecoveryPhrase({ recoveryPhrase: `  ${recoveryPhrase.toUpperCase()} ` })).toEqual({ confirmed: true });
    expect((await a.vaultStatus()).recoveryConfirmed).toBe(true);
    expect(await codeOf(a.contactAdd({ handle: 'bob' }))).toBe('NOT_REGISTERED');
    expect(await codeOf(a.register({ handle: 'alice', serverDescriptor: '{"nope":1}' }))).toBe('BAD_DESCRIPTOR');
    expect(await codeOf(a.register({ handle: 'alice' }))).toBe('BAD_DESCRIPTOR');
    expect(await codeOf(a.register({ handle: 'Alice!', serverDescriptor: started.descriptorText }))).toBe('INVALID_ARGUMENT');
    expect((await a.register({ handle: 'alice', serverDescriptor: started.descriptorText })).account?.handle).toBe('alice');
    expect((await a.settingsGet()).relayUrl).toBe(started.relay.descriptor.url);

    const phases = events.filter((e) => e.name === 'connection').map((e) => (e.payload as { phase: string }).phase);
    expect(phases).toEqual(expect.arrayContaining(['connecting', 'handshaking', 'binding', 'ready']));
    const ready = await a.connectionState();
    expect(ready.phase).toBe('ready');
    expect(ready.tempKeyExpiresAt).toBeGreaterThan(Date.now());

    const b = await newPeer(bDir.dir, 'bob', started.descriptorText);
    toClose.push(b.m);
    expect(await codeOf(a.contactAdd({ handle: 'nobody' }))).toBe('UNKNOWN_HANDLE');
    expect(await codeOf(a.contactAdd({ handle: 'alice' }))).toBe('INVALID_ARGUMENT');
    const bob = await a.contactAdd({ handle: 'bob' });
    expect((await a.contactAdd({ handle: 'bob' })).id).toBe(bob.id);
    expect(await codeOf(a.sendText({ conversationId: 'dffffffffffffffffffffffff', text: 'x' }))).toBe('UNKNOWN_CONVERSATION');
    for (let i = 0; i < 30; i++) await a.sendText({ conversationId: bob.conversationId, text: `history ${i} Grüße` });
    await waitFor(async () => (await b.m.contactsList()).length === 1 && (await fullHistory(b.m, (await b.m.contactsList())[0]!.conversationId)).length === 30, 60_000, 'bob has 30');
    const bConv = (await b.m.contactsList())[0]!.conversationId;
    expect((await b.m.conversationsList({}))[0]).toMatchObject({ unread: 30, lastMessage: { text: 'history 29 Grüße', direction: 'in' } });

    // History anchors.
    const bHist = await fullHistory(b.m, bConv);
    const newest = await b.m.historyPage({ conversationId: bConv, anchor: { kind: 'newest' }, limit: 10 });
    expect(newest.messages.map((m) => m.text)).toEqual(bHist.slice(20).map((m) => m.text));
    expect(newest).toMatchObject({ hasOlder: true, hasNewer: false });
    const before = await b.m.historyPage({ conversationId: bConv, anchor: { kind: 'before', messageId: bHist[20]!.id }, limit: 10 });
    expect(before.messages.map((m) => m.id)).toEqual(bHist.slice(10, 20).map((m) => m.id));
    expect(before).toMatchObject({ hasOlder: true, hasNewer: true });
    const after = await b.m.historyPage({ conversationId: bConv, anchor: { kind: 'after', messageId: bHist[24]!.id }, limit: 10 });
    expect(after.messages.map((m) => m.id)).toEqual(bHist.slice(25).map((m) => m.id));
    expect(after.hasNewer).toBe(false);
    const around = await b.m.historyPage({ conversationId: bConv, anchor: { kind: 'around', messageId: bHist[15]!.id }, limit: 5 });
    expect(around.messages.map((m) => m.id)).toEqual(bHist.slice(13, 18).map((m) => m.id));
    expect(await codeOf(b.m.historyPage({ conversationId: bConv, anchor: { kind: 'around', messageId: 'o.nope' }, limit: 5 }))).toBe('UNKNOWN_MESSAGE');

    // Reading half: unread drops to 15; Alice's first 15 become 'read', the rest 'delivered'.
    await b.m.markRead({ conversationId: bConv, upToMessageId: bHist[14]!.id });
    expect((await b.m.conversationsList({}))[0]!.unread).toBe(15);
    await waitFor(async () => {
      const h = await fullHistory(raw, bob.conversationId);
      return h.slice(0, 15).every((m) => m.state === 'read') && h.slice(15).every((m) => m.state === 'delivered');
    }, 60_000, 'receipts');

    // Search (diacritics folded).
    const hits = await a.search({ query: 'grusse', order: 'newest', limit: 3 });
    expect(hits.hits).toHaveLength(3);
    expect(hits.hits[0]!.snippet.some((p) => p.match)).toBe(true);

    // Backup: export with progress, open read-only, import into a fresh profile.
    const file = join(backupDir.dir, 'a.age');
    const exported = await a.backupExport({ jobId: 'job-export-1', path: file, protection: { kind: 'passphrase', passphrase: 'backup pass phrase 7' }, includeIdentity: false });
    expect(exported.messages).toBe(30);
    expect(events.some((e) => e.name === 'backupProgress' && e.payload.jobId === 'job-export-1')).toBe(true);
    expect(await codeOf(a.backupOpen({ jobId: 'job-open-bad', path: file, key: { kind: 'passphrase', passphrase: 'wrong' } }))).toBe('BACKUP_WRONG_KEY');
    const opened = await a.backupOpen({ jobId: 'job-open-1', path: file, key: { kind: 'passphrase', passphrase: 'backup pass phrase 7' } });
    expect(opened.messages).toBe(30);
    const archived = await a.conversationsList({ backupId: opened.backupId });
    expect(archived).toHaveLength(1);
    const page = await a.historyPage({ conversationId: archived[0]!.id, anchor: { kind: 'newest' }, limit: 5, backupId: opened.backupId });
    expect(page.messages.map((m) => m.text)).toEqual(['history 25 Grüße', 'history 26 Grüße', 'history 27 Grüße', 'history 28 Grüße', 'history 29 Grüße']);
    expect((await a.search({ query: 'history 7', order: 'newest', limit: 10, backupId: opened.backupId })).hits.length).toBeGreaterThan(0);
    await a.backupClose({ backupId: opened.backupId });
    expect(await codeOf(a.conversationsList({ backupId: opened.backupId }))).toBe('UNKNOWN_BACKUP');
    expect(await a.backupCancel({ jobId: 'job-none-1' })).toEqual({ cancelled: false });

    const cRaw = await openMessenger({ profileDir: cDir.dir, kdf: TEST_KDF });
    toClose.push(cRaw);
    const c = checked(cRaw);
    await c.createVault({ password: PASSWORD });
    const imported = await c.backupImport({ jobId: 'job-import-1', path: file, key: { kind: 'passphrase', passphrase: 'backup pass phrase 7' }, trustUnsigned: true });
    expect(imported.messagesAdded).toBe(30);
    expect((await c.conversationsList({}))[0]!.lastMessage?.text).toBe('history 29 Grüße');
    expect((await c.search({ query: 'history', order: 'newest', limit: 50 })).hits).toHaveLength(30);

    // Password change, lock, wrong password, recovery.
    await a.changePassword({ oldPassword: PASSWORD, newPassword: 'another long password' });
    await a.lock();
    expect((await a.vaultStatus()).vault).toBe('locked');
    expect((await a.connectionState())).toMatchObject({ phase: 'offline', cause: 'locked' });
    expect((await a.settingsGet()).relayUrl).toBeNull();
    expect(await codeOf(a.sendText({ conversationId: bob.conversationId, text: 'x' }))).toBe('VAULT_LOCKED');
    expect(await codeOf(a.unlock({ password: PASSWORD }))).toBe('WRONG_PASSWORD');
    const recovered = await a.unlockWithRecovery({ recoveryPhrase, newPassword: PASSWORD });
    expect(recovered).toMatchObject({ vault: 'unlocked', account: { handle: 'alice' } });
    await waitFor(async () => (await a.connectionState()).phase === 'ready', 30_000, 'reconnect after unlock');
    expect(await a.settingsUpdate({ autoLockMinutes: 0, theme: 'dark' })).toMatchObject({ autoLockMinutes: 0, theme: 'dark' });

    checkEvents(events);
    checkEvents(b.events);
    // Nothing secret in any event: no recovery phrase words sequence, no key-looking hex.
    const serialized = JSON.stringify(events);
    expect(serialized.includes(recoveryPhrase)).toBe(false);
  }, 300_000);
});
