// recordOf's in-memory set of messages that may have an attachment link (main/messenger/
// attachment-store.ts), on real vaults: a message without a link answers "none" without a
// sealed read, yet a link is always found: one written after the set was filled, one whose
// write was rolled back and then made, one written before a lock (the next unlock fills the
// set from the vault), and none after its message's attachment was deleted.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deleteAttachmentOf, linkAttachment, MESSAGE_ATTACHMENTS, recordOf, writeRecord, type AttachmentRecord } from '../../main/messenger/attachment-store.ts';
import type { Vault } from '../../main/vault/index.ts';
import { msg, testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => {
  vi.restoreAllMocks();
  return vaults.cleanup();
});

function record(id: string, messageId: string): AttachmentRecord {
  return { id, messageId, name: `${id}.pdf`, type: 'application/pdf', size: 10, blob: 'YmxvYg', key: 'a2V5', digest: 'ZGln', downloaded: true };
}

function attach(vault: Vault, r: AttachmentRecord): void {
  vault.transaction(() => {
    writeRecord(vault, r);
    linkAttachment(vault, r.messageId, r.id);
  });
}

describe('attachment lookups', () => {
  it('a text without a file is answered without a sealed read; a file linked later, after a rollback, is found', async () => {
    const { vault } = await vaults.fresh();
    const [text, file] = vault.appendMessages([msg('conv', 'plain text'), msg('conv', 'caption')]).map((m) => m!.id);
    expect(recordOf(vault, file!)).toBeUndefined(); // fills the set: no links yet
    const reads = vi.spyOn(vault, 'kvGet');
    expect(recordOf(vault, text!)).toBeUndefined();
    expect(reads.mock.calls.filter(([ns]) => ns === MESSAGE_ATTACHMENTS)).toEqual([]);
    // A link whose transaction rolls back leaves no record: still none.
    expect(() => vault.transaction(() => {
      writeRecord(vault, record('att_rolled', file!));
      linkAttachment(vault, file!, 'att_rolled');
      throw new Error('rolled back');
    })).toThrow('rolled back');
    expect(recordOf(vault, file!)).toBeUndefined();
    attach(vault, record('att_one', file!));
    expect(recordOf(vault, file!)?.name).toBe('att_one.pdf');
    expect(recordOf(vault, text!)).toBeUndefined();
  });

  it('a link made before a lock is found after the unlock; a deleted one is gone', async () => {
    const { vault, dir } = await vaults.fresh();
    const [file, other] = vault.appendMessages([msg('conv', 'caption'), msg('conv', 'another')]).map((m) => m!.id);
    attach(vault, record('att_kept', file!));
    vault.lock();
    const again = await vaults.reopen(dir);
    expect(recordOf(again, file!)?.id).toBe('att_kept');
    expect(recordOf(again, other!)).toBeUndefined();
    again.transaction(() => deleteAttachmentOf(again, file!));
    expect(recordOf(again, file!)).toBeUndefined();
    expect(again.kvGet(MESSAGE_ATTACHMENTS, file!)).toBeUndefined();
  });
});
