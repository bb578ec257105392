// A deletion killed mid-way (SIGKILL), then a CLI command that unlocks the vault on its own
// (`ephemera unlock-check`; issue #14): it finishes the vault's part of the deletion and also the
// messenger's (the journal: the draft, the timers of the deleted messages), instead of leaving
// those to the app's next unlock. Then no file of the profile holds the words, in plaintext or
// decrypted with the vault's subkeys in hand.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DRAFTS_NS } from '../../main/messenger/conversations.ts';
import { journalEntries } from '../../main/messenger/deletion-journal.ts';
import { recordMessageTimer } from '../../main/messenger/disappearing.ts';
import { conversationIdOf, MESSAGE_TIMERS, newContactId } from '../../main/messenger/ids.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { runCli } from '../cli/run.ts';
import { decryptVaultDb, observeSubkeys, profileFiles, WORDS, wordsIn } from '../vault/deletion-scan.ts';

const PW = 'Thistle-Marble-Comet-6481';
const root = mkdtempSync(join(tmpdir(), 'ephemera-delcrash-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
observeSubkeys();

describe('a deletion killed mid-way, then unlock-check', () => {
  it("finishes the vault's part and the messenger's journal: nothing of it in any file", { timeout: 120_000 }, async () => {
    const dir = join(root, 'profile');
    const { vault } = await Vault.create(dir, PW, { kdf: TEST_KDF });
    const contactId = newContactId();
    const conversationId = conversationIdOf(contactId);
    vault.upsertContact({ id: contactId, handle: 'alice', displayName: 'Alice', identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: conversationId, kind: 'direct', contactId, title: 'alice', lastActivity: 2, unread: 0 });
    const rows = [];
    for (let i = 0; i < 300; i++) rows.push({ id: `m${i.toString(16).padStart(6, '0')}`, conversationId, direction: 'in' as const, sender: contactId, sentAt: 1000 + i, text: `line ${i} ${WORDS[0]}`, state: 'received' as const });
    const ids = vault.appendMessages(rows).map((m) => m!.id);
    vault.transaction(() => {
      for (const id of ids) recordMessageTimer(vault, id, conversationId, 3600, null);
      vault.kvSet(DRAFTS_NS, conversationId, Buffer.from(`draft ${WORDS[1]}`, 'utf8'));
    });
    vault.lock();

    const child = fileURLToPath(new URL('./delete-crash-cli-child.ts', import.meta.url));
    const res = spawnSync(process.execPath, ['--import', 'tsx', child, dir, PW, conversationId], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    expect(res.signal, res.stderr).toBe('SIGKILL');
    const progress = JSON.parse(res.stdout.trim()) as { done: number; total: number };
    expect(progress.done).toBeGreaterThan(0);
    expect(progress.done).toBeLessThan(ids.length);

    const check = await runCli(['--profile', dir, 'unlock-check'], { EPHEMERA_PASSWORD: PW });
    expect(check.code, check.stderr).toBe(0);

    // Locked again by the CLI: the files alone, with every subkey in hand.
    expect((await decryptVaultDb(dir)).found).toEqual([]);
    for (const [name, bytes] of await profileFiles(dir)) expect(wordsIn(bytes), name).toEqual([]);
    const after = await Vault.unlock(dir, PW);
    try {
      expect(after.pendingDeletions()).toBe(0);
      expect(journalEntries(after)).toBe(0);
      expect(after.kvGet(DRAFTS_NS, conversationId)).toBeUndefined();
      expect(ids.filter((id) => after.kvGet(MESSAGE_TIMERS, id) !== undefined)).toEqual([]);
      expect(after.countMessages(conversationId)).toBe(0);
    } finally {
      after.lock();
    }
  });
});
