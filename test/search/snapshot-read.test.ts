// The restore's reader of the sealed snapshot (main/search/snapshot-read.ts): it reads the
// vault's sealed-file format chunk by chunk between event-loop turns, so it is checked here
// against the vault's own writer and reader, and against every way a file can be wrong.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IndexMirror } from '../../main/search/mirror.ts';
import { SearchIndex } from '../../main/search/index-db.ts';
import { readSealedInSteps } from '../../main/search/snapshot-read.ts';
import { VaultCorrupt, VaultLocked } from '../../main/vault/errors.ts';
import { SEALED_FILE_CHUNK } from '../../main/vault/sealed-files.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

const KEY = new Uint8Array(32).fill(7);
const open = (): void => undefined;

function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe('readSealedInSteps', () => {
  it("reads what the vault's writer sealed, byte for byte, yielding between chunks", async () => {
    const { vault, dir } = await vaults.fresh();
    for (const length of [1, SEALED_FILE_CHUNK, 3 * SEALED_FILE_CHUNK + 17]) {
      const data = pattern(length, length & 0xff);
      vault.sealedFiles.write('snap', data, KEY);
      let turns = 0;
      const ticker = setInterval(() => turns++, 0);
      const got = await readSealedInSteps(dir, 'snap', KEY, open, 0);
      clearInterval(ticker);
      expect(Buffer.from(got as Uint8Array).equals(Buffer.from(data))).toBe(true);
      expect(Buffer.from(vault.sealedFiles.read('snap', KEY) as Uint8Array).equals(Buffer.from(got as Uint8Array))).toBe(true);
      // A whole ArrayBuffer of its own: the mirror takes it by transfer, and it is zeroed as one.
      expect(got?.byteOffset).toBe(0);
      expect(got?.buffer.byteLength).toBe(length);
      if (length > SEALED_FILE_CHUNK) expect(turns).toBeGreaterThan(0);
    }
    expect(await readSealedInSteps(dir, 'absent', KEY, open)).toBeUndefined();
  });

  it('refuses a tampered chunk, a file cut at a chunk boundary, a bad header and another key', async () => {
    const { vault, dir } = await vaults.fresh();
    const path = join(dir, 'snap.sealed');
    const data = pattern(2 * SEALED_FILE_CHUNK + 5, 9);
    vault.sealedFiles.write('snap', data, KEY);
    const good = readFileSync(path);
    const wrong: Buffer[] = [];
    const flipped = Buffer.from(good);
    const inSecondChunk = 12 + SEALED_FILE_CHUNK + 40 + 100; // inside the second chunk's ciphertext
    flipped.writeUInt8(flipped.readUInt8(inSecondChunk) ^ 1, inSecondChunk);
    wrong.push(flipped);
    wrong.push(good.subarray(0, 12 + 2 * (SEALED_FILE_CHUNK + 40))); // the last chunk gone
    const header = Buffer.from(good);
    header.writeUInt8(header.readUInt8(0) ^ 1, 0);
    wrong.push(header);
    for (const bytes of wrong) {
      writeFileSync(path, bytes);
      await expect(readSealedInSteps(dir, 'snap', KEY, open, 0)).rejects.toBeInstanceOf(VaultCorrupt);
    }
    writeFileSync(path, good);
    await expect(readSealedInSteps(dir, 'snap', new Uint8Array(32).fill(8), open, 0)).rejects.toBeInstanceOf(VaultCorrupt);
    expect(Buffer.from((await readSealedInSteps(dir, 'snap', KEY, open, 0)) as Uint8Array).equals(Buffer.from(data))).toBe(true);
  });

  it('a lock between slices ends the read with its error and hands out nothing', async () => {
    const { vault, dir } = await vaults.fresh();
    vault.sealedFiles.write('snap', pattern(3 * SEALED_FILE_CHUNK, 4), KEY);
    let asked = 0;
    const lockedAfterFirst = (): void => {
      if (++asked > 1) throw new VaultLocked();
    };
    await expect(readSealedInSteps(dir, 'snap', KEY, lockedAfterFirst, 0)).rejects.toBeInstanceOf(VaultLocked);
    expect(asked).toBe(2);
  });
});

describe('IndexMirror.start', () => {
  it('takes the start image by transfer and hands it back once loaded; its copy holds the index', async () => {
    const index = SearchIndex.create();
    index.upsert([{ id: 'm1', conversationId: 'c', sentAt: 1000, text: 'mirrored hello' }]);
    const image = new Uint8Array(index.serialize());
    const mirror = IndexMirror.start(image);
    try {
      expect(image.byteLength).toBe(0); // transferred, not copied: no second plaintext copy here
      for (let i = 0; i < 500 && !mirror.loaded; i++) await new Promise((r) => setTimeout(r, 10));
      expect(mirror.loaded).toBe(true);
      const copy = SearchIndex.restore(await mirror.snapshot());
      try {
        expect(copy.search({ match: '"mirrored"', order: 'newest', limit: 10 }).map((h) => h.id)).toEqual(['m1']);
      } finally {
        copy.close();
      }
    } finally {
      mirror.close();
      index.close();
    }
  });
});
