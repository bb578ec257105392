// Deleting a group file (review s16 R5): a delete for me of one's own group file while its
// announcement is still queued keeps the relay's blob (the announcement can still go out from the
// outbox: releasing the blob would show every member a file that is gone; it expires by the
// relay's TTL), while one that failed to send releases it, and a sent one leaves it to the members.
// Real vault; deleteAttachmentOf is the step every deletion path runs.
import { afterEach, describe, expect, it } from 'vitest';
import type { MessageState } from '../../shared/api.ts';
import { BLOB_RELEASES, deleteAttachmentOf, MESSAGE_ATTACHMENTS, recordOf, writeRecord } from '../../main/messenger/attachment-store.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

const GROUP_CONV = `g${'ab'.repeat(16)}`;

describe('delete for me of an own group file', () => {
  for (const [state, released] of [['queued', false], ['failed', true], ['sent', false]] as const) {
    it(`${state}: the relay's blob is ${released ? '' : 'not '}released`, async () => {
      const { vault } = await vaults.fresh();
      const [m] = vault.appendMessages([{ id: `m-${state}`, conversationId: GROUP_CONV, direction: 'out', sender: 'self', sentAt: 1, receivedAt: 1, text: 'cap', state: state satisfies MessageState }]);
      writeRecord(vault, { id: 'att1', messageId: m!.id, name: 'n', type: 't', size: 10, blob: 'blob-1', key: 'k', digest: 'd', downloaded: true });
      vault.kvSet(MESSAGE_ATTACHMENTS, m!.id, Buffer.from('att1'));
      deleteAttachmentOf(vault, m!.id);
      expect(recordOf(vault, m!.id)).toBeUndefined();
      expect(vault.kvKeys(BLOB_RELEASES)).toEqual(released ? ['blob-1'] : []);
    });
  }
});
