// Deletion in slices (issue #14, at scale): the same result as the one-transaction delete, in
// short transactions under a sealed pending-deletion record; a SIGKILL or a lock between slices
// leaves a state that the next unlock finishes before anything can be read, and the words end
// up in no file (the scanners of deletion-scan.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SearchService } from '../../main/search/service.ts';
import { VaultLocked } from '../../main/vault/errors.ts';
import { decryptVaultDb, fill, observeSubkeys, profileFiles, snapshotImage, WORDS, wordsIn } from './deletion-scan.ts';
import { testVaults } from './helpers.ts';
import { atRest } from './at-rest.ts';

const vaults = testVaults();
observeSubkeys();
afterEach(() => vaults.cleanup());

const TINY = 0.001; // ms: every slice after the first holds one segment

describe('Vault deleteMessagesInSlices', () => {
  it('deletes in several slices with progress, and with catchUpInSteps no file holds the words', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds, keptSecretFree } = fill(vault);
    const search = await SearchService.open(vault);
    expect(wordsIn(await snapshotImage(dir)).sort()).toEqual([...WORDS].sort());
    const progress: [number, number][] = [];
    const report = await vault.deleteMessagesInSlices('conv-a', [...secretIds, 'm-unknown', secretIds[0] as string], {
      sliceMs: TINY,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(report.deleted.sort()).toEqual([...secretIds].sort());
    expect(report.slices).toBe(2); // two segments, then one
    expect(report.resealed).toBe(3);
    expect(report.bytesResealed).toBeGreaterThan(0);
    expect(progress).toEqual([
      [2, 3],
      [3, 3],
    ]);
    expect(vault.pendingDeletions()).toBe(0);
    const b = await vault.deleteConversationInSlices('conv-b');
    expect(b.deleted).toHaveLength(2);
    expect(b.emptied).toBe(1);

    const phases = new Set<string>();
    await search.catchUpInSteps((phase) => phases.add(phase));
    // The purge of the deleted terms runs in the index's mirror, before it makes the snapshot's image.
    expect([...phases]).toEqual(['index', 'snapshot']);
    for (const w of WORDS) expect(search.search({ text: w })).toEqual([]);
    expect(search.search({ text: WORDS[0].slice(0, 6) })).toEqual([]);
    expect(wordsIn(await snapshotImage(dir))).toEqual([]);
    for (const [name, bytes] of await profileFiles(dir)) expect(wordsIn(bytes), name).toEqual([]);
    search.discard();
    vault.lock();
    expect((await decryptVaultDb(dir)).found).toEqual([]);
    const again = await vaults.reopen(dir);
    expect(again.countMessages('conv-a')).toBe(keptSecretFree);
    expect(again.countMessages('conv-b')).toBe(0);
  });

  it('after a SIGKILL between slices, the next unlock finishes the deletion before anything is read', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds, keptSecretFree } = fill(vault);
    (await SearchService.open(vault)).close();
    vault.lock();
    // A scrub this lock owes must end first: spawnSync blocks this thread, which releases the
    // profile at the scrub's end, so the child's unlock would wait for it in vain.
    await atRest(dir);

    const child = fileURLToPath(new URL('./delete-slices-child.ts', import.meta.url));
    const res = spawnSync(process.execPath, ['--import', 'tsx', child, dir, 'correct horse', 'conv-a', JSON.stringify(secretIds)], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(res.signal, res.stderr).toBe('SIGKILL');
    // Killed with one slice committed and one to go.
    expect(res.stdout.trim()).toBe(JSON.stringify({ done: 2, total: 3 }));
    expect(wordsIn(await snapshotImage(dir))).toContain(WORDS[1]);

    const reopened = await vaults.reopen(dir);
    expect(reopened.pendingDeletions()).toBe(0);
    for (const id of secretIds) expect(reopened.getMessage(id)).toBeUndefined();
    expect(reopened.countMessages('conv-a')).toBe(keptSecretFree);
    const search = await SearchService.open(reopened);
    expect(search.openedFrom).toBe('snapshot');
    for (const w of WORDS.slice(0, 2)) expect(search.search({ text: w })).toEqual([]);
    expect(search.search({ text: WORDS[2] })).toHaveLength(1); // conversation B was not deleted
    expect(wordsIn(await snapshotImage(dir))).toEqual([WORDS[2]]);
    search.discard();
    reopened.lock();
    expect((await decryptVaultDb(dir)).found).toEqual([WORDS[2]]);
    for (const [name, bytes] of await profileFiles(dir)) expect(wordsIn(bytes), name).toEqual([]);
  });

  it('a lock between slices stops the deletion; unlock finishes it', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds, keptSecretFree } = fill(vault);
    const pending = vault.deleteMessagesInSlices('conv-a', secretIds, { sliceMs: TINY, onProgress: () => vault.lock() });
    await expect(pending).rejects.toBeInstanceOf(VaultLocked);
    const reopened = await vaults.reopen(dir);
    expect(reopened.pendingDeletions()).toBe(0);
    expect(reopened.countMessages('conv-a')).toBe(keptSecretFree);
    for (const id of secretIds) expect(reopened.getMessage(id)).toBeUndefined();
  });

  it('runs inSlice inside each slice: a failing hook rolls its slice back and leaves the record for unlock', async () => {
    const { vault, dir } = await vaults.fresh();
    const { secretIds } = fill(vault);
    let calls = 0;
    const pending = vault.deleteMessagesInSlices('conv-a', secretIds, {
      sliceMs: TINY,
      inSlice: (ids) => {
        calls++;
        for (const id of ids) vault.kvSet('test-hook', id, new Uint8Array([1]));
        if (calls === 2) throw new Error('hook failed');
      },
    });
    await expect(pending).rejects.toThrow('hook failed');
    // First slice (two messages) committed with its hook's writes; the second rolled back with them.
    expect(vault.kvKeys('test-hook').sort()).toEqual(secretIds.slice(0, 2).sort());
    expect(vault.getMessage(secretIds[2] as string)).toBeDefined();
    expect(vault.pendingDeletions()).toBe(1);
    vault.lock();
    const reopened = await vaults.reopen(dir);
    expect(reopened.pendingDeletions()).toBe(0);
    expect(reopened.getMessage(secretIds[2] as string)).toBeUndefined();
  });

  it('validates its input before writing anything', async () => {
    const { vault } = await vaults.fresh();
    fill(vault);
    expect(() => vault.deleteMessagesInSlices('conv a', [])).toThrow(TypeError);
    expect(() => vault.deleteMessagesInSlices('conv-a', ['bad id'])).toThrow(TypeError);
    expect(() => vault.deleteMessagesInSlices('conv-a', 'x' as unknown as string[])).toThrow(TypeError);
    expect(vault.pendingDeletions()).toBe(0);
    expect((await vault.deleteMessagesInSlices('conv-a', [])).deleted).toEqual([]);
    expect(vault.pendingDeletions()).toBe(0);
  });
});
