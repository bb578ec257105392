// The real `ephemera` CLI with attachments in backups: export carries the files (or, with
// --without-attachments, only what they were), open-backup history --json lists them, import
// restores the bytes into a new profile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IdentityKeyPair } from '@signalapp/libsignal-client';
import { Vault } from '../../main/vault/index.ts';
import { ATTACHMENT_CHUNKS, MESSAGE_ATTACHMENTS, chunkKey, recordOf, writeRecord } from '../../main/messenger/attachment-store.ts';
import { saveAttachment } from '../../main/messenger/attachments.ts';
import { ageKeygen, ageRun, makeTempDir, type AgeKeyPair } from './helpers.ts';
import { runCli, type CliResult } from '../cli/run.ts';

const PW = 'vault pw 1234';
const KDF = { memoryKiB: 19 * 1024, iterations: 1, parallelism: 1 };
const CHUNK = 64 * 1024;
const FILE = randomBytes(2 * CHUNK + 7);

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { EPHEMERA_KDF: 'test', EPHEMERA_PASSWORD: PW, EPHEMERA_BACKUP_PASSPHRASE: 'backup passphrase' });
}
const json = (r: CliResult): Record<string, unknown> => JSON.parse(r.stdout.trim()) as Record<string, unknown>;

describe('ephemera CLI: attachments in backups', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  let source: string;
  beforeAll(async () => {
    tmp = makeTempDir();
    keys = ageKeygen(tmp.dir);
    source = join(tmp.dir, 'source');
    const { vault } = await Vault.create(source, PW, { kdf: KDF });
    vault.upsertContact({ id: 'c-a', handle: 'alice', displayName: 'Alice', identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'v-a', kind: 'direct', contactId: 'c-a', title: 'Alice', lastActivity: 5, unread: 0 });
    vault.appendMessages([
      { id: 'm-text', conversationId: 'v-a', direction: 'in', sender: 'c-a', sentAt: 1_763_900_000_000, text: 'see the plan', state: 'read' },
      { id: 'm-file', conversationId: 'v-a', direction: 'in', sender: 'c-a', sentAt: 1_763_900_060_000, text: 'the plan', state: 'read' },
    ]);
    vault.transaction(() => {
      writeRecord(vault, { id: 'att_plan', messageId: 'm-file', name: 'floor-plan.pdf', type: 'application/pdf', size: FILE.length, blob: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url'), digest: randomBytes(32).toString('base64url'), downloaded: true });
      vault.kvSet(MESSAGE_ATTACHMENTS, 'm-file', Buffer.from('att_plan'));
      for (let i = 0; i * CHUNK < FILE.length; i++) vault.kvSet(ATTACHMENT_CHUNKS, chunkKey('att_plan', i), FILE.subarray(i * CHUNK, (i + 1) * CHUNK));
    });
    vault.setAccountSecret('e2e-identity-key-pair', IdentityKeyPair.generate().serialize());
    vault.lock();
  });
  afterAll(() => tmp.cleanup());

  it('export, open-backup history --json, import: the file comes back byte for byte', async () => {
    const file = join(tmp.dir, 'full.age');
    const e = await cli(['--profile', source, '--json', 'export', file, '--recipient', keys.recipient]);
    expect(e.code, e.stderr).toBe(0);
    expect(json(e)).toMatchObject({ counts: { messages: 2, attachments: 1 } });

    const h = await cli(['--json', 'open-backup', file, 'history', 'alice', '--identity', keys.identityFile]);
    expect(h.code, h.stderr).toBe(0);
    const messages = json(h).messages as Array<{ id: string; attachments: unknown[] }>;
    expect(messages.find((m) => m.id === 'm-file')?.attachments).toEqual([{ id: 'att_plan', name: 'floor-plan.pdf', size: FILE.length, type: 'application/pdf', downloaded: true }]);
    expect(messages.find((m) => m.id === 'm-text')?.attachments).toEqual([]);
    const human = await cli(['open-backup', file, 'history', 'alice', '--identity', keys.identityFile]);
    expect(human.stdout).toContain(`[file floor-plan.pdf, ${FILE.length} bytes]`);

    const target = join(tmp.dir, 'target');
    const i = await cli(['--profile', target, '--json', 'import', file, '--identity', keys.identityFile, '--trust-unsigned']);
    expect(i.code, i.stderr).toBe(0);
    expect(json(i)).toMatchObject({ added: { messages: 2, attachments: 1 } });
    const vault = await Vault.unlock(target, PW);
    try {
      expect(recordOf(vault, 'm-file')).toMatchObject({ name: 'floor-plan.pdf', downloaded: true });
      const out = join(tmp.dir, 'plan.out');
      await saveAttachment(vault, undefined, 'att_plan', out);
      expect(readFileSync(out).equals(FILE)).toBe(true);
    } finally {
      vault.lock();
    }
  });

  it('--without-attachments keeps the file card but not its bytes', async () => {
    const file = join(tmp.dir, 'small.age');
    const e = await cli(['--profile', source, '--json', 'export', file, '--recipient', keys.recipient, '--without-attachments']);
    expect(e.code, e.stderr).toBe(0);
    const plain = ageRun(['-d', '-i', keys.identityFile, file]).stdout.toString('utf8');
    expect(plain).not.toContain('attachment-chunk');
    expect(plain).toContain('"name":"floor-plan.pdf"');
    const h = await cli(['open-backup', file, 'history', 'alice', '--identity', keys.identityFile]);
    expect(h.stdout).toContain('[file floor-plan.pdf');
    expect(h.stdout).toContain('not in the backup]');
  });
});
