// A message whose indexed text is REPLACED, not deleted ("delete for everyone": the vault keeps a
// tombstone without text under the same id, vault/messages/redact.ts), must leave no word of its
// old text in the sealed search snapshot, in vault.db or its -wal, or in any file of the profile.
// SearchIndex.upsert replaces an indexed id without the purge that remove() runs (FTS5's
// contentless_delete keeps a removed row's terms in its segments until they merge): what keeps
// the old words out is that the vault's feed reports every text change as a delete (the
// tombstone's seq) before the new version, so the index purges. Checked here with the data key's
// subkeys in hand, on both snapshot paths: made on the main thread (no mirror) and by the mirror's
// worker (an index restored from its snapshot, as after an unlock).
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StoredMessage } from '../../main/vault/api.ts';
import type { Vault } from '../../main/vault/index.ts';
import { IndexMirror } from '../../main/search/mirror.ts';
import { SearchIndex } from '../../main/search/index-db.ts';
import { SearchService } from '../../main/search/service.ts';
import { decryptVaultDb, fill, observeSubkeys, profileFiles, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

/** The worker cannot start: every snapshot image is made on the main thread. */
function noWorker(): void {
  vi.spyOn(IndexMirror, 'start').mockImplementation(() => {
    throw new Error('no worker threads here');
  });
}

/** Locks the vault and lists the profile files (raw) holding one of WORDS, and the words vault.db yields to the subkeys. */
async function scanLocked(vault: Vault, dir: string): Promise<{ rawFiles: string[]; vaultDb: string[] }> {
  vault.lock();
  const rawFiles = [...(await profileFiles(dir))].filter(([, bytes]) => wordsIn(bytes).length > 0).map(([name]) => name);
  return { rawFiles, vaultDb: (await decryptVaultDb(dir)).found };
}

describe('a replaced message in the sealed search snapshot', () => {
  it('the feed reports a redact as a delete before the new version, even one change at a time', async () => {
    const { vault } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const seq = vault.changesSince(0, 10_000).maxSeq;
    expect(vault.redactMessages('conv-a', secretIds.slice(0, 1))).toEqual(secretIds.slice(0, 1));
    const first = vault.changesSince(seq, 1);
    expect(first).toMatchObject({ deletes: secretIds.slice(0, 1), upserts: [], more: true });
    const second = vault.changesSince(first.maxSeq, 10);
    expect(second.deletes).toEqual([]);
    expect(second.upserts.map((m) => [m.id, m.text])).toEqual([[secretIds[0], '']]);
    // A state change re-indexes the same text: no delete, nothing to purge.
    vault.updateMessageState(secretIds[1] as string, 'read');
    expect(vault.changesSince(second.maxSeq, 10)).toMatchObject({ deletes: [], upserts: [{ id: secretIds[1] }] });
    vault.lock();
  });

  it('main-thread snapshot: redacted words are in no file after the lock', async () => {
    noWorker();
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    search.snapshot();
    expect(wordsIn(await snapshotImage(dir))).toEqual([...WORDS]);

    const purgeAll = vi.spyOn(SearchIndex.prototype, 'purgeAll');
    expect(vault.redactMessages('conv-a', secretIds)).toEqual(secretIds);
    search.catchUp();
    expect(search.search({ text: WORDS[0] })).toEqual([]);
    expect(search.size).toBe(202); // the tombstones stay indexed (blank)
    await search.closeInSteps();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    expect(purgeAll).toHaveBeenCalled();
    expect(await scanLocked(vault, dir)).toEqual({ rawFiles: [], vaultDb: [WORDS[2]] }); // conv-b keeps its word
  });

  it('mirror snapshot (index restored at unlock): redacted words are in no file after the lock', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    (await SearchService.open(vault)).close();
    const search = await SearchService.open(vault);
    expect(search.openedFrom).toBe('snapshot');
    expect(wordsIn(await snapshotImage(dir))).toEqual([...WORDS]);

    const serialize = vi.spyOn(SearchIndex.prototype, 'serialize');
    expect(vault.redactMessages('conv-a', secretIds)).toEqual(secretIds);
    search.catchUp();
    await search.closeInSteps();
    expect(serialize).not.toHaveBeenCalled(); // the image came from the mirror's worker
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    expect(await scanLocked(vault, dir)).toEqual({ rawFiles: [], vaultDb: [WORDS[2]] }); // conv-b keeps its word
  });

  it('a file without a caption: its name leaves the snapshot when the message becomes a tombstone', async () => {
    const { vault, dir } = await vaults.fresh();
    // The messenger indexes an attachment's file name as the message's extra text (lifecycle.ts);
    // delete for everyone drops the record, then redacts the blank message (evenIfBlank).
    const names = new Map<string, string>();
    const extraText = (m: StoredMessage): string | undefined => names.get(m.id);
    const file = msg('conv-a', '');
    names.set(file.id, `${WORDS[1]}.pdf`);
    vault.appendMessages([file, msg('conv-a', `the ${WORDS[2]} stays`)]);
    (await SearchService.open(vault, { extraText })).close();
    const search = await SearchService.open(vault, { extraText });
    expect(search.search({ text: WORDS[1] }).map((h) => h.id)).toEqual([file.id]);
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[1], WORDS[2]]);

    names.delete(file.id);
    expect(vault.redactMessages('conv-a', [file.id], [file.id])).toEqual([file.id]);
    search.catchUp();
    expect(search.search({ text: WORDS[1] })).toEqual([]);
    await search.closeInSteps();
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    expect((await scanLocked(vault, dir)).rawFiles).toEqual([]);
  });
});
