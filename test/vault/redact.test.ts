// "Delete for everyone" in the vault (issue #14): redactMessages keeps each message as a
// tombstone (id, place, author, times, state) while its text is in no byte of the profile. With
// the data key's subkeys in hand (test-only key observer), every sealed column is decrypted, the
// sealed search snapshot is opened and every file is scanned; the old ciphertext of each re-sealed
// segment is in no file either (checked while the vault is still open).
import { afterEach, describe, expect, it } from 'vitest';
import { NONCE_BYTES } from '../../main/vault/aead.ts';
import { SearchService } from '../../main/search/service.ts';
import { decryptVaultDb, fill, observeSubkeys, profileFiles, segmentBlobs, snapshotImage, WORDS, wordsIn } from './deletion-scan.ts';
import { testVaults } from './helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => vaults.cleanup());

describe('Vault redactMessages', () => {
  it('keeps tombstones in place and leaves the words in no file, no sealed column and no search snapshot', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds, bId } = fill(vault);
    vault.updateMessageState(secretIds[1]!, 'read'); // a sealed state row, written after the append
    let search = await SearchService.open(vault);
    search.snapshot();
    const before = [...vault.iterateMessages('conv-a')];
    search.discard();
    vault.lock();
    expect((await decryptVaultDb(dir)).found.sort()).toEqual([...WORDS].sort()); // the scanners see them first
    const oldSegments = await segmentBlobs(dir);

    const reopened = await vaults.reopen(dir);
    search = await SearchService.open(reopened);
    expect(reopened.redactMessages('conv-a', [...secretIds, 'm-unknown', bId])).toEqual(secretIds); // another chat's id is skipped
    expect(reopened.redactMessages('conv-b', [bId])).toEqual([bId]);
    expect(reopened.redactMessages('conv-a', secretIds)).toEqual([]); // already blank
    search.catchUp();
    await search.catchUpInSteps(); // the snapshot the deletion made due, written in steps (the mirror's image)
    for (const w of WORDS) expect(search.search({ text: w })).toEqual([]);

    // Every message is still there, in order; the tombstones keep all but their text.
    const after = [...reopened.iterateMessages('conv-a')];
    expect(after.map((m) => m.id)).toEqual(before.map((m) => m.id));
    for (const [i, m] of after.entries()) {
      const was = before[i]!;
      const { text, seq: _seq, ...rest } = m;
      const { text: oldText, seq: _oldSeq, ...wasRest } = was;
      expect(rest).toEqual(wasRest); // id, orderKey, direction, sender, times, state ('read' kept)
      expect(text).toBe(secretIds.includes(m.id) ? '' : oldText);
    }

    for (const [name, bytes] of await profileFiles(dir)) {
      expect(wordsIn(bytes), name).toEqual([]);
      for (const [id, old] of oldSegments) {
        if (id === 1 || id === 2 || id === 3 || id === 5) expect(bytes.includes(old.subarray(0, NONCE_BYTES + 32)), `${name} holds old segment ${id}`).toBe(false);
      }
    }
    expect(wordsIn(await snapshotImage(dir))).toEqual([]);
    search.discard();
    reopened.lock();
    const scan = await decryptVaultDb(dir);
    expect(scan.found).toEqual([]);
    expect(scan.segmentsOpened).toBe(5);
    for (const [name, bytes] of await profileFiles(dir)) expect(wordsIn(bytes), name).toEqual([]);
  });
});
