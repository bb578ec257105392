// Export reads the vault in small chunks that end on segment boundaries (main/vault/messages/read.ts
// readChunk): when it waits (each progress report is followed by a wait for the worker and a turn
// of the event loop), at most one chunk of decoded messages is ahead of what it has written, and
// no segment is opened twice. Decoded messages that outlive a wait get promoted to the old space
// (docs/backup-format.md, stop 27). Counted through the vault's segment opener, not timed.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import type { NewMessage } from '../../main/vault/api.ts';
import { BatchOpener } from '../../main/vault/aead.ts';
import { exportBackup } from '../../main/backup/index.ts';
import { ageKeygen, makeTempDir, type AgeKeyPair } from './helpers.ts';

/**
 * Decoded messages ahead of the writer when export waits, at most: one chunk of 256 rows and the
 * rest of its last segment (64). With chunks of 2,048 rows the pages outlived scavenges and were
 * promoted (stop 27: 41 against 21 MiB promoted per 100k export with a 1 MiB semi-space).
 */
const MAX_AHEAD = 256 + 64;
const BATCHES = 15;
const PER_BATCH = 333;

describe('export holds one small chunk of decoded messages at its waits', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  let vault: Vault;

  beforeAll(async () => {
    tmp = makeTempDir('ephemera-export-pages-');
    keys = ageKeygen(tmp.dir);
    ({ vault } = await Vault.create(join(tmp.dir, 'p'), 'vault password 123', { kdf: TEST_KDF }));
    vault.upsertContact({ id: 'c-bob', handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'v-bob', kind: 'direct', contactId: 'c-bob', title: 'Bob', lastActivity: 1, unread: 0 });
    // Batches of 333 make segments of 64 and a partial one of 13, so fixed chunk sizes would end
    // inside segments; a second conversation follows the first.
    for (let b = 0; b < BATCHES; b++) {
      const batch: NewMessage[] = [];
      for (let i = 0; i < PER_BATCH; i++) batch.push({ id: `m-${b}-${i}`, conversationId: 'v-bob', direction: i % 2 ? 'out' : 'in', sender: i % 2 ? 'self' : 'c-bob', sentAt: b * 1000 + i, text: `message ${b}/${i}`, state: 'read' });
      batch.push({ id: `n-${b}`, conversationId: 'v-zed', direction: 'in', sender: 'c-zed', sentAt: b, text: `other ${b}`, state: 'received' });
      vault.appendMessages(batch);
    }
  });
  afterAll(() => {
    vault.lock();
    tmp.cleanup();
  });

  it('opens each segment once, and at every progress report has at most one chunk decoded ahead', async () => {
    // Per segment (its AD names it): how often it was opened; and how many messages were decoded.
    const opens = new Map<string, number>();
    let decoded = 0;
    const open = BatchOpener.prototype.open;
    const spy = vi.spyOn(BatchOpener.prototype, 'open').mockImplementation(function (this: BatchOpener, blob: Uint8Array, ad: Uint8Array): Buffer {
      const plain = open.call(this, blob, ad);
      const key = Buffer.from(ad).toString('hex');
      opens.set(key, (opens.get(key) ?? 0) + 1);
      const entries: unknown = JSON.parse(plain.toString('utf8'));
      if (Array.isArray(entries)) decoded += entries.length;
      return plain;
    });
    const ahead: number[] = [];
    try {
      const r = await exportBackup(vault, join(tmp.dir, 'out.age'), {
        keys: { recipients: [keys.recipient] },
        onProgress: (p) => {
          if (p.phase === 'export' && p.done > 0 && p.done < p.total) ahead.push(decoded - p.done);
        },
      });
      expect(r.counts.messages).toBe(BATCHES * (PER_BATCH + 1));
    } finally {
      spy.mockRestore();
    }
    const segments = [...opens.values()];
    expect(segments.length).toBeGreaterThan(BATCHES * 6);
    expect(segments.filter((n) => n > 1)).toEqual([]);
    expect(decoded).toBe(BATCHES * (PER_BATCH + 1));
    // Reports at 1, 1,024, 2,048, 3,072 and 4,096 messages.
    expect(ahead.length).toBe(5);
    expect(Math.max(...ahead)).toBeGreaterThan(0);
    for (const n of ahead) {
      expect(n).toBeGreaterThanOrEqual(0);
      expect(n).toBeLessThan(MAX_AHEAD);
    }
  });
});
