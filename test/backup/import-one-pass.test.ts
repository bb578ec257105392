// Import reads the file once and applies it as it reads, in one vault transaction that commits
// only after the last line (and the signature) checked out. A file that fails at its very end,
// after every message was already written inside that transaction, must leave the profile as it
// was: as the user sees it, and on disk, where the transaction (larger than SQLite's page cache)
// spilled sealed rows of the file into the WAL before it rolled back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { importBackup } from '../../main/backup/import.ts';
import { BackupError } from '../../main/backup/errors.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { ageEncryptToFile, ageKeygen, hashTree, makeTempDir, type AgeKeyPair } from './helpers.ts';

const MESSAGES = 60_000;

/** An unsigned version-1 stream of MESSAGES messages (~25 MB); `endMessages` is what its end line claims. */
function stream(endMessages: number): string {
  const counts = { contacts: 1, conversations: 1, messages: MESSAGES, secrets: 0 };
  const lines: string[] = [
    JSON.stringify({ type: 'header', format: 'ephemera-backup', version: 1, created: 1, counts, includesIdentity: false }),
    JSON.stringify({ type: 'contact', id: 'contact-1', handle: 'alice', displayName: 'Alice', verified: false, identityChanged: false, createdAt: 1 }),
    JSON.stringify({ type: 'conversation', id: 'conv-1', kind: 'direct', contactId: 'contact-1', title: 'Alice', lastActivity: 5, unread: 0 }),
  ];
  for (let i = 0; i < MESSAGES; i++) {
    lines.push(JSON.stringify({ type: 'message', id: `msg-${i}`, conversationId: 'conv-1', direction: 'in', sender: 'contact-1', sentAt: i, receivedAt: i, text: `${i} ${'lorem ipsum '.repeat(33)}`, state: 'received' }));
  }
  lines.push(JSON.stringify({ type: 'end', counts: { ...counts, messages: endMessages } }));
  return lines.map((l) => `${l}\n`).join('');
}

describe('one-pass import: nothing changes unless the whole file verifies', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  let target: Vault;
  let targetDir: string;

  beforeAll(async () => {
    tmp = makeTempDir('ephemera-one-pass-');
    keys = ageKeygen(tmp.dir);
    targetDir = join(tmp.dir, 'target');
    ({ vault: target } = await Vault.create(targetDir, 'vault password 123', { kdf: TEST_KDF }));
    target.upsertContact({ id: 'contact-0', handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1 });
    target.upsertConversation({ id: 'conv-0', kind: 'direct', contactId: 'contact-0', title: 'Bob', lastActivity: 1, unread: 0 });
    target.appendMessages([{ id: 'kept', conversationId: 'conv-0', direction: 'in', sender: 'contact-0', sentAt: 1, text: 'here before', state: 'read' }]);
  });
  afterAll(() => {
    target.lock();
    tmp.cleanup();
  });

  it('a file whose end line is wrong, read after every message was applied, leaves every file of the profile as it was', async () => {
    const file = join(tmp.dir, 'bad-end.age');
    ageEncryptToFile(stream(MESSAGES + 1), keys.recipient, file);
    // Everything committed so far is in vault.db and the WAL is empty: any byte the import leaves shows.
    target.kvForget('test-checkpoint', 'none');
    const before = hashTree(targetDir);
    let applied = 0;
    const err = await importBackup(target, file, {
      keys: { identities: [keys.identity] },
      trustUnsigned: true,
      onProgress: (p) => {
        if (p.phase === 'apply') applied = Math.max(applied, p.done);
      },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('MALFORMED');
    // The failure came at the end, with every message written inside the transaction.
    expect(applied).toBe(MESSAGES);
    expect(target.busy).toBe(false);
    expect(target.countMessages()).toBe(1);
    expect(target.getContact('contact-1')).toBeUndefined();
    expect(target.getMessage('msg-0')).toBeUndefined();
    expect(statSync(`${join(targetDir, 'vault.db')}-wal`, { throwIfNoEntry: false })?.size ?? 0).toBe(0);
    expect(hashTree(targetDir)).toEqual(before);
  });

  it('the same file with its end line right imports every message', async () => {
    const file = join(tmp.dir, 'good.age');
    ageEncryptToFile(stream(MESSAGES), keys.recipient, file);
    const r = await importBackup(target, file, { keys: { identities: [keys.identity] }, trustUnsigned: true });
    expect(r.added.messages).toBe(MESSAGES);
    expect(r.inFile.messages).toBe(MESSAGES);
    expect(target.countMessages()).toBe(MESSAGES + 1);
    expect(target.getMessage('msg-59999')?.text.startsWith('59999 lorem')).toBe(true);
  });
});
