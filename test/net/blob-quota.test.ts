// The upload refuses a file whose charge does not fit the account's attachment quota before it
// creates a blob (main/net/attachments.ts uploadFrom, main/net/blob-limits.ts), on the relay's
// own terms from blob.limits: the sealed size (at least one chunk) plus 1 KiB per recipient.
// Real in-process relay with a small quota, real clients.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TransferError, uploadFile } from '../../main/net/attachments.ts';
import { AttachmentOverQuota } from '../../main/net/blob-limits.ts';
import { BLOB_RECIPIENT_CHARGE_BYTES } from '../../relay/blobs.ts';
import { streamLayout } from '../../shared/protocol/stream.ts';
import { inProcessRelay, makeClient, tempDir, type TestClient } from './harness.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** The largest file whose sealed size is at most `bytes`. */
function largestSealedWithin(bytes: number): number {
  let lo = 1;
  let hi = bytes;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (streamLayout(mid).sealedSize <= bytes) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

describe('an upload over the attachment quota', () => {
  it('is refused before blob.create, naming the recipients\' share: not now (retry later) or never', async () => {
    const t = tempDir('blob-quota');
    closers.push(() => t.cleanup());
    const first = 150_000;
    const second = 100_000;
    // What is left after the first file to two recipients: the second's sealed bytes and 1,000 more.
    const quota = streamLayout(first).sealedSize + 2 * BLOB_RECIPIENT_CHARGE_BYTES + streamLayout(second).sealedSize + 1000;
    const relay = await inProcessRelay(t.dir, { blobQuotaBytes: quota });
    closers.push(() => relay.close());
    const users: TestClient[] = [];
    for (const h of ['alice', 'bob', 'carol']) {
      const c = await makeClient(relay.descriptor);
      closers.push(() => c.client.stop());
      await c.client.start();
      await c.client.call('register', { handle: h });
      users.push(c);
    }
    const alice = users[0]!;
    const used = async (): Promise<number> => (await alice.client.call('blob.limits', null)).usedBytes;
    const file = (name: string, size: number): string => {
      const p = join(t.dir, name);
      writeFileSync(p, Buffer.alloc(size, 7));
      return p;
    };

    await uploadFile(alice.client, file('first', first), ['bob', 'carol']);
    const left = quota - (await used());
    expect(left).toBe(quota - streamLayout(first).sealedSize - 2 * BLOB_RECIPIENT_CHARGE_BYTES);

    // Its sealed bytes fit what is left; with the two recipients' 2 KiB they do not.
    const size = second;
    expect(left).toBe(streamLayout(size).sealedSize + 1000);
    const refused = await uploadFile(alice.client, file('second', size), ['bob', 'carol']).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(AttachmentOverQuota);
    const short = (refused as AttachmentOverQuota).shortfall;
    expect(short).toEqual({
      charge: streamLayout(size).sealedSize + 2 * BLOB_RECIPIENT_CHARGE_BYTES,
      recipientsShare: 2 * BLOB_RECIPIENT_CHARGE_BYTES,
      perRecipientBytes: BLOB_RECIPIENT_CHARGE_BYTES,
      leftBytes: left,
      quotaBytes: quota,
      never: false,
    });
    expect((refused as Error).message).toContain(`${2 * BLOB_RECIPIENT_CHARGE_BYTES} of them for the recipients`);
    expect((refused as Error).message).toContain(`${left} of ${quota} bytes are left`);
    // Nothing was created for it.
    expect(await used()).toBe(quota - left);

    // Over the whole quota with its 20 recipients (not by its size alone, a Padmé step is < 20 KiB
    // here): it never fits. Refused before the relay is asked, so the handles need not exist.
    const never = largestSealedWithin(quota);
    const twenty = Array.from({ length: 20 }, (_, i) => `member_${i}`);
    const over = await uploadFile(alice.client, file('never', never), twenty).then(() => undefined, (e: unknown) => e);
    expect(over).toBeInstanceOf(TransferError);
    expect((over as TransferError).code).toBe('ATTACHMENT_TOO_LARGE');
    expect((over as Error).message).toContain(`more than the whole quota of ${quota} bytes`);
    expect(await used()).toBe(quota - left);

    // A smaller file to one recipient fits with its 1 KiB share: sent, and charged as predicted.
    const one = largestSealedWithin(left - BLOB_RECIPIENT_CHARGE_BYTES);
    await uploadFile(alice.client, file('third', one), ['bob']);
    expect(await used()).toBe(quota - left + streamLayout(one).sealedSize + BLOB_RECIPIENT_CHARGE_BYTES);
  });
});
