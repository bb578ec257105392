// A delete (for me, for everyone, or a timer's expiry: all end in deleteAttachmentOf) that lands
// while the same file's download runs must not be undone by the download (review s16 R4): real
// relay, real vault, a 48-chunk file (three full write transactions), the delete at the first
// chunk, in the middle, and after the last chunk was written but before the record. Afterwards no
// record, no chunk, and no file of the profile (vault.db, its WAL) holds any sealed row the
// download wrote: each is looked for byte for byte in the raw files.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadFile, type BlobCaller, type BlobRef } from '../../main/net/attachments.ts';
import { download } from '../../main/messenger/attachments.ts';
import { ATTACHMENT_CHUNKS, ATTACHMENTS, chunkKey, deleteAttachmentOf, readRecord, STAGING, writeRecord, type AttachmentRecord, linkAttachment } from '../../main/messenger/attachment-store.ts';
import { ApiError } from '../../shared/api.ts';
import { STREAM_CHUNK_BYTES } from '../../shared/protocol/stream.ts';
import { Vault } from '../../main/vault/index.ts';
import { inProcessRelay, makeClient, tempDir } from '../net/harness.ts';
import { testVaults } from '../vault/helpers.ts';
import { foundInVaultFiles, foundOutsidePageGaps, sealedKvValues } from '../vault/sealed-scan.ts';

const CHUNKS = 48;
const relayDir = tempDir('dl-vs-delete-relay');
const filesDir = tempDir('dl-vs-delete-files');
const vaults = testVaults();
const stops: (() => Promise<void>)[] = [];
let alice: BlobCaller;
let bob: BlobCaller;
let ref: BlobRef;

beforeAll(async () => {
  const relay = await inProcessRelay(relayDir.dir);
  stops.push(() => relay.close());
  const client = async (handle: string): Promise<Awaited<ReturnType<typeof makeClient>>> => {
    const c = await makeClient(relay.descriptor);
    stops.unshift(() => c.client.stop());
    await c.client.start();
    await c.client.call('register', { handle });
    return c;
  };
  alice = (await client('alice')).client;
  bob = (await client('bob')).client;
}, 60_000);

afterAll(async () => {
  for (const s of stops) await s();
  await vaults.cleanup();
  relayDir.cleanup();
  filesDir.cleanup();
});

const b64 = (x: Uint8Array): string => Buffer.from(x).toString('base64url');

/** A received file's message and record (not downloaded), as storeInboundAttachment leaves them. */
function receivedFile(vault: Vault): AttachmentRecord {
  const [m] = vault.appendMessages([{ id: 'msg1', conversationId: 'c-test', direction: 'in', sender: 'contact-1', sentAt: 1, receivedAt: 1, text: 'cap', state: 'received' }]);
  const r: AttachmentRecord = { id: 'att1', messageId: m!.id, name: 'n', type: 't', size: ref.size, blob: b64(ref.blobId), key: b64(ref.key), digest: b64(ref.digest), downloaded: false };
  writeRecord(vault, r);
  linkAttachment(vault, m!.id, r.id);
  return r;
}

const chunksLeft = (vault: Vault): number => Array.from({ length: CHUNKS }, (_, i) => vault.kvGet(ATTACHMENT_CHUNKS, chunkKey('att1', i))).filter((c) => c !== undefined).length;

describe('a delete while the file downloads', () => {
  // At the first chunk (still held, none written), in the middle (one transaction written), and
  // after the last (every chunk written, the record not yet).
  for (const [when, atChunk] of [['at the first chunk', 1], ['in the middle', 20], ['after the last chunk, before the record', CHUNKS]] as const) {
    it(`${when}: no record, no chunk, nothing the download wrote in any file`, async () => {
      // A blob of its own: a download that completes (the old fault) drops bob's claim, and the relay the blob.
      const path = join(filesDir.dir, 'f.bin');
      writeFileSync(path, randomBytes(CHUNKS * STREAM_CHUNK_BYTES));
      ref = await uploadFile(alice, path, ['bob']);
      const { vault, dir } = await vaults.fresh();
      const r = receivedFile(vault);
      const before = new Set(sealedKvValues(dir).map(b64));
      const written: Buffer[] = [];
      let seen = 0;
      let deletedAt = -1;
      const outcome = await download(vault, bob, r, {
        onProgress: () => {
          if (++seen !== atChunk) return;
          // What the download has written so far, before the delete removes it.
          written.push(...sealedKvValues(dir).filter((v) => !before.has(b64(v))));
          deletedAt = chunksLeft(vault);
          // The deletion's own steps (deletion.ts): the file, then the message, whose delete checkpoints and truncates the WAL.
          deleteAttachmentOf(vault, r.messageId, { forEveryone: true });
          vault.deleteMessages('c-test', [r.messageId]);
          // The deletion's own rows (the blob's release, queued for the relay) are not the download's.
          for (const v of sealedKvValues(dir)) before.add(b64(v));
        },
      }).then(() => 'resolved', (e: unknown) => e);
      written.push(...sealedKvValues(dir).filter((v) => !before.has(b64(v))));
      expect(seen).toBeGreaterThanOrEqual(atChunk);
      expect(deletedAt).toBe(atChunk === 1 ? 0 : atChunk === CHUNKS ? CHUNKS : 16);
      expect(readRecord(vault, 'att1')).toBeUndefined();
      expect(vault.kvKeys(ATTACHMENTS)).toEqual([]);
      expect(vault.kvKeys(STAGING)).toEqual([]);
      expect(chunksLeft(vault)).toBe(0);
      // The download wrote its chunks (and its staging mark) before the delete: those were
      // seen, and none of them (nor anything written after) is in vault.db or the WAL now.
      expect(written.length).toBeGreaterThanOrEqual(atChunk === 1 ? 1 : deletedAt);
      // Still unlocked: in no cell, free page or WAL frame; what a b-tree rebalance copied into a
      // page's unallocated space goes with the lock's scrub (main/vault/scrub.ts), after which nowhere.
      expect(foundOutsidePageGaps(dir, written)).toBe(0);
      vault.lock();
      await Vault.scrubbed(dir);
      expect(foundInVaultFiles(dir, written)).toBe(0);
      // The caller (a save, the UI's show) is told the file is gone, not that it was saved.
      expect(outcome).toBeInstanceOf(ApiError);
      expect((outcome as ApiError).code).toBe('UNKNOWN_MESSAGE');
    }, 60_000);
  }
});
