// "Delete for me" (issue #14): a deleted message is in no byte of the profile. With the data
// key's subkeys in hand (test-only key observer), every sealed column of vault.db is decrypted,
// the sealed search snapshot is opened, and every file is scanned for the words in plaintext;
// the old ciphertext of each re-sealed segment is looked for in every file too (while the vault
// is still open, so a WAL that kept the old page versions is caught before close tidies it).
// The scanners and the fixture are in deletion-scan.ts (shared with delete-slices.test.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NONCE_BYTES } from '../../main/vault/aead.ts';
import { SearchService } from '../../main/search/service.ts';
import { decryptVaultDb, fill, observeSubkeys, profileFiles, segmentBlobs, snapshotImage, WORDS, wordsIn } from './deletion-scan.ts';
import { msg, testVaults } from './helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => vaults.cleanup());

describe('Vault deleteMessages / deleteConversation', () => {
  it('leaves the words in no file, no sealed column and no search snapshot', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds, keptSecretFree } = fill(vault);
    let search = await SearchService.open(vault);
    search.snapshot();
    expect(search.search({ text: WORDS[0] }).length).toBe(2);
    search.discard();
    vault.lock();

    // The scanners see the words before deletion (so their silence afterwards means something).
    expect((await decryptVaultDb(dir)).found.sort()).toEqual([...WORDS].sort());
    expect(wordsIn(await snapshotImage(dir)).sort()).toEqual([...WORDS].sort());
    const before = await segmentBlobs(dir);

    const reopened = await vaults.reopen(dir);
    search = await SearchService.open(reopened);
    expect(reopened.deleteMessages('conv-a', [...secretIds, 'm-unknown'])).toEqual(secretIds);
    expect(reopened.deleteConversation('conv-b')).toHaveLength(2);
    search.catchUp();
    await search.catchUpInSteps(); // the snapshot the deletion made due, written in steps (the mirror's image)
    for (const w of WORDS) expect(search.search({ text: w })).toEqual([]);
    expect(search.search({ text: WORDS[0].slice(0, 6) })).toEqual([]); // prefix expansion too

    // While the vault is still open: no file holds the words, nor any old segment ciphertext.
    const open1 = await profileFiles(dir);
    for (const [name, bytes] of open1) {
      expect(wordsIn(bytes), name).toEqual([]);
      for (const [id, old] of before) {
        // Segments 1-3 held the secrets and were re-sealed, conversation B's (5) was deleted; 4 is untouched.
        if (id !== 4) expect(bytes.includes(old.subarray(0, NONCE_BYTES + 32)), `${name} holds old segment ${id}`).toBe(false);
      }
    }
    // The snapshot on disk was rewritten by the deletion itself (not by a later close).
    expect(wordsIn(await snapshotImage(dir))).toEqual([]);
    search.discard();
    reopened.lock();

    const scan = await decryptVaultDb(dir);
    expect(scan.found).toEqual([]);
    expect(scan.segmentsOpened).toBe(4);
    for (const [name, bytes] of await profileFiles(dir)) expect(wordsIn(bytes), name).toEqual([]);

    const again = await vaults.reopen(dir);
    expect(again.countMessages('conv-a')).toBe(keptSecretFree);
    expect(again.countMessages('conv-b')).toBe(0);
    expect([...again.iterateMessages('conv-a')].map((m) => m.text)).toContain('ordinary message number 199');
    expect(again.getConversation('conv-b')).toBeUndefined(); // never upserted in this test: nothing made one
  });

  it('after a SIGKILL right after the deletion, the next open rewrites the search snapshot without the words', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    search.close();
    vault.lock();
    expect(wordsIn(await snapshotImage(dir)).sort()).toEqual([...WORDS].sort());

    const child = fileURLToPath(new URL('./delete-crash-child.ts', import.meta.url));
    const res = spawnSync(process.execPath, ['--import', 'tsx', child, dir, 'correct horse', 'conv-a', JSON.stringify(secretIds)], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(res.signal, res.stderr).toBe('SIGKILL');
    expect(JSON.parse(res.stdout.trim()) as { deleted: string[] }).toEqual({ deleted: secretIds });
    // The child died before its index caught up: the old snapshot still holds the words.
    expect(wordsIn(await snapshotImage(dir))).toContain(WORDS[0]);

    const reopened = await vaults.reopen(dir);
    const again = await SearchService.open(reopened);
    expect(again.openedFrom).toBe('snapshot');
    // Conversation B was not deleted: its word is still found (the scanners work).
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    expect(again.search({ text: WORDS[0] })).toEqual([]);
    again.discard();
    reopened.lock();
    expect((await decryptVaultDb(dir)).found).toEqual([WORDS[2]]);
    for (const [name, bytes] of await profileFiles(dir)) expect(wordsIn(bytes), name).toEqual([]);
  });

  it('skips ids of another conversation and unknown ids; validates its input', async () => {
    const { vault } = await vaults.fresh();
    const a = msg('conv-a', 'in a');
    const b = msg('conv-b', 'in b');
    vault.appendMessages([a, b]);
    expect(vault.deleteMessages('conv-a', [b.id, 'nope'])).toEqual([]);
    expect(vault.getMessage(b.id)?.text).toBe('in b');
    expect(() => vault.deleteMessages('conv a', [a.id])).toThrow(TypeError);
    expect(() => vault.deleteMessages('conv-a', ['bad id'])).toThrow(TypeError);
    expect(vault.getMessage(a.id)?.text).toBe('in a');
    expect(vault.deleteMessages('conv-a', [a.id, a.id])).toEqual([a.id]);
    expect(vault.getMessage(a.id)).toBeUndefined();
    expect(vault.changesSince(0, 10).deletes).toEqual([a.id]);
  });
});
