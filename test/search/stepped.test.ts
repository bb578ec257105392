// The non-blocking paths behind large deletions (issue #14): a sealed file written chunk by
// chunk between event-loop turns (and abortable, leaving the old file), and a search snapshot
// written that way being superseded by close() without leaving a file the vault does not vouch for.
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SearchService } from '../../main/search/service.ts';
import { SEALED_FILE_CHUNK } from '../../main/vault/sealed-files.ts';
import { fill, observeSubkeys, snapshotImage, WORDS, wordsIn } from '../vault/deletion-scan.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => vaults.cleanup());

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe('sealedFiles.writeInSteps', () => {
  it('writes a multi-chunk file between event-loop turns; an abort leaves the old file and no temp', async () => {
    const { vault, dir } = await vaults.fresh();
    const old = pattern(1000, 1);
    vault.sealedFiles.write('snap', old);
    const data = pattern(3 * SEALED_FILE_CHUNK + 17, 2);
    const immediates: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) immediates.push(new Promise((r) => setImmediate(r)));
    let otherWorkRan = false;
    void Promise.all(immediates).then(() => (otherWorkRan = true));
    await vault.sealedFiles.writeInSteps('snap', data);
    expect(otherWorkRan).toBe(true); // other callbacks ran while it wrote
    expect(Buffer.from(vault.sealedFiles.read('snap') as Uint8Array).equals(Buffer.from(data))).toBe(true);

    const abort = new AbortController();
    const pending = vault.sealedFiles.writeInSteps('snap', pattern(2 * SEALED_FILE_CHUNK, 3), abort.signal);
    abort.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(Buffer.from(vault.sealedFiles.read('snap') as Uint8Array).equals(Buffer.from(data))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('SearchService.catchUpInSteps after a deletion', () => {
  it('a close() while its snapshot is being written supersedes it: the next open uses a snapshot without the words', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    const search = await SearchService.open(vault);
    vault.deleteMessages('conv-a', secretIds);
    const phases: string[] = [];
    const stepping = search.catchUpInSteps((phase) => {
      phases.push(phase);
      // Close as soon as the snapshot phase begins: its file write is still ahead.
      if (phase === 'snapshot') setImmediate(() => search.close());
    });
    await stepping;
    expect(phases).toContain('snapshot');
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    vault.lock();
    const reopened = await vaults.reopen(dir);
    const again = await SearchService.open(reopened);
    expect(again.openedFrom).toBe('snapshot');
    expect(again.search({ text: WORDS[0] })).toEqual([]);
    expect(again.search({ text: WORDS[2] })).toHaveLength(1);
    again.discard();
  });
});
