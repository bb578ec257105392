// The search service on a real vault (real SQLite file, real sealing, small KDF).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { SealedFileStore } from '../../main/vault/sealed-files.ts';
import { SearchService, SNAPSHOT_FILE, type SearchRequest } from '../../main/search/service.ts';
import { CASES, DAY, SECRET_WORDS, T0, corpus, hexId } from './corpus.ts';

const PASSWORD = 'correct horse battery staple 42';
let root: string;
let profile: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'ephemera-search-test-'));
  profile = join(root, 'profile');
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function createWithCorpus(): Promise<Vault> {
  const { vault } = await Vault.create(profile, PASSWORD, { kdf: TEST_KDF });
  vault.appendMessages(corpus());
  return vault;
}

function ids(service: SearchService, req: SearchRequest): string[] {
  return service.search(req).map((h) => h.id);
}

function expectAllCases(service: SearchService): void {
  for (const c of CASES) {
    const req: SearchRequest = { text: c.text, limit: 100 };
    if (c.conversationId !== undefined) req.conversationId = c.conversationId;
    if (c.from !== undefined) req.from = c.from;
    if (c.to !== undefined) req.to = c.to;
    expect(ids(service, req), c.name).toEqual(c.expect.map(hexId));
  }
}

function profileFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...profileFiles(p));
    else out.push(p);
  }
  return out;
}

function snapshotPath(): string {
  return join(profile, `${SNAPSHOT_FILE}.sealed`);
}

describe('SearchService on a real vault', () => {
  it('every query form finds exactly the expected messages', async () => {
    const vault = await createWithCorpus();
    const service = await SearchService.open(vault);
    expect(service.openedFrom).toBe('rebuild');
    expect(service.size).toBe(15);
    expectAllCases(service);
    service.close();
    vault.lock();
  });

  it('results carry a snippet from the message text with the match marked', async () => {
    const vault = await createWithCorpus();
    const service = await SearchService.open(vault);
    const [hit] = service.search({ text: 'creme brulee ', limit: 1 });
    expect(hit?.id).toBe(hexId(4));
    expect(hit?.snippet.text).toBe('creme BRULEE again? quorvath is great');
    expect(hit?.snippet.highlights.map((h) => hit.snippet.text.slice(h.start, h.end))).toEqual(['creme', 'BRULEE']);
    expect(hit?.conversationId).toBe('beta');
    expect(hit?.sentAt).toBe(T0 + 3 * DAY);
    const [cjk] = service.search({ text: '東京タワー' });
    expect(cjk && cjk.snippet.highlights.map((h) => cjk.snippet.text.slice(h.start, h.end))).toEqual(['東京タワー']);
    service.close();
    vault.lock();
  });

  it('orders by relevance on request', async () => {
    const vault = await createWithCorpus();
    vault.appendMessages([
      { ...corpus()[0]!, id: hexId(100), text: 'zanzibarcafe zanzibarcafe zanzibarcafe', sentAt: T0 - DAY },
    ]);
    const service = await SearchService.open(vault);
    expect(ids(service, { text: 'zanzibarcafe ' })).toEqual([hexId(2), hexId(1), hexId(100)]);
    const byRelevance = service.search({ text: 'zanzibarcafe ', order: 'relevance' });
    expect(byRelevance[0]?.id).toBe(hexId(100));
    expect(byRelevance.map((h) => h.id).sort()).toEqual([hexId(1), hexId(2), hexId(100)]);
    service.close();
    vault.lock();
  });

  it('stays current with appends, state updates and deletes', async () => {
    const vault = await createWithCorpus();
    const service = await SearchService.open(vault);
    vault.appendMessages([{ ...corpus()[0]!, id: hexId(200), text: 'fresh snorkelwhale news', sentAt: T0 + 20 * DAY }]);
    expect(service.catchUp()).toBe(1);
    expect(ids(service, { text: 'snorkelwhale ' })).toEqual([hexId(200)]);
    vault.updateMessageState(hexId(200), 'read');
    expect(ids(service, { text: 'snorkelwhale ' })).toEqual([hexId(200)]);
    vault.deleteMessage(hexId(2));
    vault.deleteMessage(hexId(200));
    // search() catches up by itself, so a deleted message never shows.
    expect(ids(service, { text: 'zanzibarcafe ' })).toEqual([hexId(1)]);
    expect(ids(service, { text: 'snorkelwhale ' })).toEqual([]);
    // Deleted, then re-added with the same id: the new row wins.
    vault.appendMessages([{ ...corpus()[0]!, id: hexId(2), text: 'back again: zanzibarcafe', sentAt: T0 + 30 * DAY }]);
    expect(ids(service, { text: 'zanzibarcafe ' })).toEqual([hexId(2), hexId(1)]);
    expect(service.size).toBe(15);
    service.close();
    vault.lock();
  });

  it('survives lock/unlock from the snapshot plus the tail, and deletes made while closed', async () => {
    let vault = await createWithCorpus();
    let service = await SearchService.open(vault);
    service.close();
    vault.lock();

    vault = await Vault.unlock(profile, PASSWORD);
    // Changes while the index is closed form the tail.
    vault.deleteMessage(hexId(1));
    vault.appendMessages([{ ...corpus()[0]!, id: hexId(300), text: 'zanzibarcafe reopened', sentAt: T0 + 40 * DAY }]);
    service = await SearchService.open(vault);
    expect(service.openedFrom).toBe('snapshot');
    expect(service.replayedAtOpen).toBe(2);
    expect(ids(service, { text: 'zanzibarcafe ' })).toEqual([hexId(300), hexId(2)]);
    expect(ids(service, { text: '京' })).toEqual([hexId(9), hexId(8)]);
    service.close();
    vault.lock();
  });

  it('no distinctive word reaches any profile file, as UTF-8 or UTF-16LE', async () => {
    const vault = await createWithCorpus();
    const service = await SearchService.open(vault);
    expectAllCases(service);
    service.snapshot();
    vault.appendMessages([{ ...corpus()[0]!, id: hexId(400), text: 'zanzibarcafe plumbifex tail', sentAt: T0 + 50 * DAY }]);
    service.catchUp();
    service.close();
    vault.lock();
    // The files at rest: after the scrub the lock may have started (forgotten snapshot keys owe one).
    await Vault.scrubbed(profile);
    expect(existsSync(snapshotPath())).toBe(true);
    const files = profileFiles(profile);
    expect(files.length).toBeGreaterThan(1);
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const word of SECRET_WORDS) {
        for (const encoding of ['utf8', 'utf16le'] as const) {
          for (const form of new Set([word, word.toLowerCase(), word.normalize('NFD')])) {
            expect(bytes.includes(Buffer.from(form, encoding)), `${word} (${encoding}) in ${file}`).toBe(false);
          }
        }
      }
    }
  });

  it('a truncated snapshot is detected and the index rebuilt', async () => {
    let vault = await createWithCorpus();
    let service = await SearchService.open(vault);
    service.close();
    vault.lock();
    truncateSync(snapshotPath(), Math.floor(statSync(snapshotPath()).size / 2));

    vault = await Vault.unlock(profile, PASSWORD);
    // A file its generation's key does not open is damaged, not one from before per-generation
    // keys: never read again whole in one synchronous call (review s21 R2).
    const wholeRead = vi.spyOn(SealedFileStore.prototype, 'read');
    service = await SearchService.open(vault);
    expect(wholeRead.mock.calls.filter(([name]) => name === SNAPSHOT_FILE)).toEqual([]);
    wholeRead.mockRestore();
    expect(service.openedFrom).toBe('rebuild');
    expect(service.rebuildReason?.reason).toBe('snapshot-unreadable');
    expectAllCases(service);
    service.close();
    vault.lock();
    // The rebuild wrote a good snapshot again.
    vault = await Vault.unlock(profile, PASSWORD);
    service = await SearchService.open(vault);
    expect(service.openedFrom).toBe('snapshot');
    service.close();
    vault.lock();
  });

  it('a garbage snapshot file is detected and the index rebuilt', async () => {
    let vault = await createWithCorpus();
    let service = await SearchService.open(vault);
    service.close();
    vault.lock();
    writeFileSync(snapshotPath(), Buffer.alloc(5000, 0x41));

    vault = await Vault.unlock(profile, PASSWORD);
    service = await SearchService.open(vault);
    expect(service.openedFrom).toBe('rebuild');
    expectAllCases(service);
    service.close();
    vault.lock();
  });

  it('a snapshot whose seq the vault does not vouch for is rebuilt (index update interrupted)', async () => {
    let vault = await createWithCorpus();
    let service = await SearchService.open(vault);
    service.close();
    // The vault's record says another seq than the snapshot holds: e.g. the snapshot was
    // written by a run whose record update never committed, or the vault was restored from
    // an older copy while the snapshot is newer.
    const record = JSON.parse(Buffer.from(vault.kvGet('search', 'snapshot') as Uint8Array).toString('utf8')) as { generation: string; seq: number };
    vault.kvSet('search', 'snapshot', Buffer.from(JSON.stringify({ ...record, seq: record.seq + 5 })));
    vault.deleteMessage(hexId(3));
    vault.lock();

    vault = await Vault.unlock(profile, PASSWORD);
    service = await SearchService.open(vault);
    expect(service.openedFrom).toBe('rebuild');
    expect(service.rebuildReason?.reason).toBe('snapshot-not-vouched');
    expect(ids(service, { text: 'quorvath ' })).toEqual([hexId(4)]);
    service.close();
    vault.lock();
  });

  it('a snapshot older than the vault record (crash before the new file landed) is rebuilt', async () => {
    let vault = await createWithCorpus();
    let service = await SearchService.open(vault);
    service.close();
    const oldSnapshot = readFileSync(snapshotPath());
    vault.appendMessages([{ ...corpus()[0]!, id: hexId(500), text: 'later zanzibarcafe', sentAt: T0 + 60 * DAY }]);
    service = await SearchService.open(vault);
    service.snapshot();
    service.discard();
    vault.lock();
    writeFileSync(snapshotPath(), oldSnapshot); // the file is from an earlier generation

    vault = await Vault.unlock(profile, PASSWORD);
    service = await SearchService.open(vault);
    expect(service.openedFrom).toBe('rebuild');
    expect(ids(service, { text: 'zanzibarcafe ' })).toEqual([hexId(500), hexId(2), hexId(1)]);
    service.close();
    vault.lock();
  });

  it('a crash between writing the snapshot and committing its record keeps the new snapshot', async () => {
    let vault = await createWithCorpus();
    let service = await SearchService.open(vault);
    vault.appendMessages([{ ...corpus()[0]!, id: hexId(600), text: 'pending zanzibarcafe', sentAt: T0 + 70 * DAY }]);
    service.catchUp();
    const current = () => (JSON.parse(Buffer.from(vault.kvGet('search', 'snapshot') as Uint8Array).toString('utf8')) as { generation: string }).generation;
    const before = current();
    // Simulate the crash: let the final record write fail, after the file was written.
    const realKvSet = vault.kvSet.bind(vault);
    let writes = 0;
    vault.kvSet = (ns, key, value) => {
      if (key === 'snapshot') writes += 1; // the record (the generation's file key is in the vault's snapshot key slots)
      if (writes === 2) throw new Error('simulated crash');
      realKvSet(ns, key, value);
    };
    expect(() => service.snapshot()).toThrow('simulated crash');
    vault.kvSet = realKvSet;
    service.discard();
    vault.lock();

    vault = await Vault.unlock(profile, PASSWORD);
    service = await SearchService.open(vault);
    expect(service.openedFrom).toBe('snapshot');
    expect(service.replayedAtOpen).toBe(0);
    expect(ids(service, { text: 'zanzibarcafe ' })).toEqual([hexId(600), hexId(2), hexId(1)]);
    // Opening made the pending snapshot current, and destroyed the key of the one it replaced.
    const record = JSON.parse(Buffer.from(vault.kvGet('search', 'snapshot') as Uint8Array).toString('utf8')) as { pending?: unknown };
    expect(record.pending).toBeUndefined();
    expect(current()).not.toBe(before);
    expect(vault.snapshotKeyGet(before)).toBeUndefined();
    expect(vault.snapshotKeyGet(current())).toBeDefined();
    service.close();
    vault.lock();
  });

  it('an index dropped without a snapshot (crash) is repaired from the tail on the next open', async () => {
    let vault = await createWithCorpus();
    let service = await SearchService.open(vault);
    vault.appendMessages([{ ...corpus()[0]!, id: hexId(700), text: 'unsnapshotted grimbleflax', sentAt: T0 + 80 * DAY }]);
    vault.deleteMessage(hexId(12));
    // The crash comes before the index learned of the writes (a catchUp after a deletion would
    // write a snapshot at once: test/vault/delete-for-me.test.ts).
    service.discard();
    vault.lock();

    vault = await Vault.unlock(profile, PASSWORD);
    service = await SearchService.open(vault);
    expect(service.openedFrom).toBe('snapshot');
    expect(service.replayedAtOpen).toBe(2);
    expect(ids(service, { text: 'grimbleflax ' })).toEqual([hexId(700)]);
    expect(ids(service, { text: 'blorptune ' })).toEqual([hexId(13)]);
    service.close();
    vault.lock();
  });

  it('survives a restart, clean or after the process died without closing', async () => {
    const vault = await createWithCorpus();
    const service = await SearchService.open(vault);
    service.close();
    vault.lock();
    // The child opens the profile: a scrub this lock started (main/vault/scrub.ts) holds it until
    // it ends, and spawnSync would keep this thread from ever releasing it.
    await Vault.scrubbed(profile);
    const child = fileURLToPath(new URL('./restart-child.ts', import.meta.url));
    for (const mode of ['crash', 'clean'] as const) {
      const res = spawnSync(process.execPath, ['--import', 'tsx', child, profile, PASSWORD, mode], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
      expect(res.status, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as { openedFrom: string; found: string[] };
      expect(out.openedFrom).toBe('snapshot');
      const expected = mode === 'crash' ? [hexId(900)] : [hexId(901), hexId(900)];
      expect(out.found).toEqual(expected);
      const reopened = await Vault.unlock(profile, PASSWORD);
      const again = await SearchService.open(reopened);
      expect(again.openedFrom).toBe('snapshot');
      // After the crash the child's changes come back as the tail; after a clean exit they are in the snapshot.
      expect(again.replayedAtOpen).toBe(mode === 'crash' ? 2 : 0);
      expect(ids(again, { text: 'quillowisp ' })).toEqual(expected);
      expect(ids(again, { text: 'plumbifex ' })).toEqual([]);
      expect(ids(again, { text: 'blorptune ' })).toEqual(mode === 'crash' ? [hexId(13), hexId(12)] : [hexId(13)]);
      again.close();
      reopened.lock();
      // The crash child's deletion left a scrub owed: this lock runs it (see above).
      await Vault.scrubbed(profile);
    }
  });

  it('writes a snapshot every snapshotEvery changes', async () => {
    const vault = await createWithCorpus();
    const service = await SearchService.open(vault, { snapshotEvery: 3 });
    const before = statSync(snapshotPath()).mtimeMs;
    const firstRecord = Buffer.from(vault.kvGet('search', 'snapshot') as Uint8Array).toString('utf8');
    vault.appendMessages([1, 2, 3].map((i) => ({ ...corpus()[0]!, id: hexId(800 + i), text: `periodic ${i}` })));
    service.catchUp();
    // With the index's mirror running, the snapshot catchUp made due is written in steps: wait for it.
    await service.catchUpInSteps();
    const secondRecord = Buffer.from(vault.kvGet('search', 'snapshot') as Uint8Array).toString('utf8');
    expect(secondRecord).not.toBe(firstRecord);
    expect(statSync(snapshotPath()).mtimeMs).toBeGreaterThanOrEqual(before);
    service.discard();
    vault.lock();
  });

  it('rejects malformed requests with a clear error and changes nothing', async () => {
    const vault = await createWithCorpus();
    const service = await SearchService.open(vault);
    expect(() => service.search({ text: 'x', limit: 0 })).toThrow();
    expect(() => service.search({ text: 'x', order: 'random' as 'newest' })).toThrow();
    expect(() => service.search({ text: 42 as unknown as string })).toThrow();
    expect(service.search({ text: '   ' })).toEqual([]);
    expect(service.size).toBe(15);
    service.close();
    vault.lock();
  });
});
