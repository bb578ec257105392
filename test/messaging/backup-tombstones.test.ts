// Backups and deletion (issue #14) on real vaults with the real `age` tool: a message deleted for
// everyone is exported as a tombstone line (`"deleted":true`, no text) and comes back as a
// tombstone from import and from open; a message under a disappearing timer is never exported
// (expired before its deletion ran, counting down, or not shown yet; the decrypted stream is
// scanned for its words).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { exportBackup, importBackup, openBackup } from '../../main/backup/index.ts';
import type { DeleteContent, MessageContent } from '../../main/e2e/index.ts';
import { backupMessageStatus, markImportedTombstones } from '../../main/messenger/backup-records.ts';
import { isTombstone } from '../../main/messenger/delete-for-everyone.ts';
import { recordMessageTimer } from '../../main/messenger/disappearing.ts';
import { conversationIdOf, incomingMessageId } from '../../main/messenger/ids.ts';
import { storeInbound, type InboundSteps } from '../../main/messenger/inbound.ts';
import { messageView } from '../../main/messenger/views.ts';
import type { ContactRecord } from '../../main/vault/api.ts';
import type { Vault } from '../../main/vault/index.ts';
import { ageKeygen, ageRun, makeTempDir } from '../backup/helpers.ts';
import { runCli } from '../cli/run.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
const tmp = makeTempDir('ephemera-backup-tomb-');
afterEach(() => vaults.cleanup());
afterAll(() => tmp.cleanup());

const idKey = randomBytes(32);
const alice: ContactRecord = { id: `c${'a'.repeat(24)}`, handle: 'alice', displayName: 'alice', identityChanged: false, createdAt: 1_700_000_000_000 };
const conversationId = conversationIdOf(alice.id);
const steps = (vault: Vault): InboundSteps => ({
  contactFor: () => vault.findContactByHandle('alice')!,
  withIdKey: (fn) => fn(idKey),
  touchConversation: () => undefined,
  setState: () => undefined,
});
const text = (id: string, body: string): MessageContent => ({ v: 1, kind: 'text', id, sentAt: Date.now(), text: body });
const del = (ids: string[]): DeleteContent => ({ v: 1, kind: 'delete', id: randomBytes(8).toString('hex'), sentAt: Date.now(), ids });
const idOf = (cid: string): string => incomingMessageId(idKey, alice.id, cid);

const DELETED = 'zorbquillant';
const EXPIRED = 'vextrafolium';
const KEPT = 'plimbdrovish';
const COUNTING = 'grustlevanix';

describe('backups keep tombstones and never hold an expired message', () => {
  it('export: a tombstone line, no words of a message under a timer; import and open: a tombstone', async () => {
    const { vault } = await vaults.fresh();
    vault.upsertContact(alice);
    vault.upsertConversation({ id: conversationId, kind: 'direct', contactId: alice.id, title: 'alice', lastActivity: 1, unread: 0 });
    const s = steps(vault);
    storeInbound(vault, 'alice', text('d-1', `the ${DELETED} goes`), s);
    storeInbound(vault, 'alice', text('k-1', `the ${KEPT} stays`), s);
    storeInbound(vault, 'alice', text('e-1', `the ${EXPIRED} runs out`), s);
    expect(storeInbound(vault, 'alice', del(['d-1']), s)).toMatchObject({ changed: [{ id: idOf('d-1') }] });
    // Its countdown started a minute ago under a 30 s timer: expired, its deletion not run yet.
    recordMessageTimer(vault, idOf('e-1'), conversationId, 30, Date.now() - 60_000);
    expect(vault.getMessage(idOf('e-1'))?.text).toContain(EXPIRED);
    // Still counting down, and not shown yet: a backup would keep them past their expiry, so neither goes in.
    storeInbound(vault, 'alice', text('c-1', `the ${COUNTING} counts down`), s);
    recordMessageTimer(vault, idOf('c-1'), conversationId, 3600, Date.now());
    storeInbound(vault, 'alice', text('n-1', `the ${COUNTING} waits to be shown`), s);
    recordMessageTimer(vault, idOf('n-1'), conversationId, 3600, null);

    const keys = ageKeygen(tmp.dir);
    const file = join(tmp.dir, 'b.age');
    const r = await exportBackup(vault, file, { keys: { recipients: [keys.recipient] }, signingKey: null, messageStatus: backupMessageStatus(vault) });
    expect(r.counts.messages).toBe(2);
    const plain = ageRun(['-d', '-i', keys.identityFile, file]);
    expect(plain.status).toBe(0);
    const out = plain.stdout.toString('utf8');
    expect(out).toContain(KEPT);
    expect(out).not.toContain(EXPIRED);
    expect(out).not.toContain(COUNTING);
    expect(out).not.toContain(DELETED);
    // A tombstone line makes the file version 3 (no attachments in it): a reader of version 2,
    // which predates tombstones, refuses it as too new ("update Ephemera"), not as broken.
    expect(JSON.parse(out.split('\n')[0] as string)).toMatchObject({ type: 'header', version: 3, counts: { attachments: 0 } });
    const messageLines = out.split('\n').filter((l) => l.startsWith('{"type":"message"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(messageLines.map((l) => [l.id, l.text, l.deleted])).toEqual([
      [idOf('d-1'), '', true],
      [idOf('k-1'), `the ${KEPT} stays`, undefined],
    ]);

    const { vault: target } = await vaults.fresh();
    const imported = await importBackup(target, file, { keys: { identities: [keys.identity] }, trustUnsigned: true, markTombstones: markImportedTombstones(target) });
    expect(imported.added.messages).toBe(2);
    expect(isTombstone(target, idOf('d-1'))).toBe(true);
    expect(isTombstone(target, idOf('k-1'))).toBe(false);
    expect(target.getMessage(idOf('d-1'))?.text).toBe('');
    expect(target.getMessage(idOf('e-1'))).toBeUndefined();

    const archive = await openBackup(file, { keys: { identities: [keys.identity] } });
    const views = archive.messagesOf(conversationId).map((m, i) => messageView(m, i));
    expect(views.map((m) => [m.id, m.text, m.deleted])).toEqual([
      [idOf('d-1'), '', true],
      [idOf('k-1'), `the ${KEPT} stays`, undefined],
    ]);
  });

  it('`ephemera export` of a locked profile (no app, no unlock purge) leaves out an expired message and keeps a tombstone', async () => {
    const { vault, dir } = await vaults.fresh();
    vault.upsertContact(alice);
    vault.upsertConversation({ id: conversationId, kind: 'direct', contactId: alice.id, title: 'alice', lastActivity: 1, unread: 0 });
    const s = steps(vault);
    storeInbound(vault, 'alice', text('d-3', `the ${DELETED} goes`), s);
    storeInbound(vault, 'alice', text('e-3', `the ${EXPIRED} runs out`), s);
    storeInbound(vault, 'alice', del(['d-3']), s);
    recordMessageTimer(vault, idOf('e-3'), conversationId, 30, Date.now() - 60_000);
    vault.lock();
    const keys = ageKeygen(tmp.dir, 'id3.txt');
    const file = join(tmp.dir, 'cli.age');
    const r = await runCli(['--profile', dir, 'export', file, '--recipient', keys.recipient], { EPHEMERA_KDF: 'test', EPHEMERA_PASSWORD: 'correct horse' });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = ageRun(['-d', '-i', keys.identityFile, file]).stdout.toString('utf8');
    expect(out).not.toContain(EXPIRED);
    expect(out).toContain(`{"type":"message","id":"${idOf('d-3')}"`);
    expect(out).toContain('"text":"","state":"received","deleted":true}');
    expect(out).toContain('"format":"ephemera-backup","version":3,');
  });

  it('a backup without tombstones has no deleted flag (its lines are what an older writer made)', async () => {
    const { vault } = await vaults.fresh();
    vault.upsertContact(alice);
    vault.upsertConversation({ id: conversationId, kind: 'direct', contactId: alice.id, title: 'alice', lastActivity: 1, unread: 0 });
    storeInbound(vault, 'alice', text('k-2', `the ${KEPT} stays`), steps(vault));
    const keys = ageKeygen(tmp.dir, 'id2.txt');
    const file = join(tmp.dir, 'plain.age');
    await exportBackup(vault, file, { keys: { recipients: [keys.recipient] }, signingKey: null, messageStatus: backupMessageStatus(vault) });
    const out = ageRun(['-d', '-i', keys.identityFile, file]).stdout.toString('utf8');
    expect(out).not.toContain('"deleted"');
    expect(out).toContain('"format":"ephemera-backup","version":2,');
  });
});
