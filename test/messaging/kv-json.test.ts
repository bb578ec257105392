// The one reader of JSON records in the vault's sealed kv (main/messenger/kv-json.ts), on a real
// vault: lenient by default (bad JSON reads as absent), strict for the records only our code
// writes (group receipts, group state, attachment records), where bad JSON must surface.
import { afterEach, describe, expect, it } from 'vitest';
import { readKvJson, writeKvJson } from '../../main/messenger/kv-json.ts';
import { ATTACHMENTS, readRecord } from '../../main/messenger/attachment-store.ts';
import { GROUP_SENT } from '../../main/messenger/group-receipt-log.ts';
import { groupSource } from '../../main/messenger/group-backup.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

describe('kv JSON records', () => {
  it('reads back what was written, across a reopen', async () => {
    const { vault, dir } = await vaults.fresh();
    writeKvJson(vault, 'test-kv-json', 'k', { a: 1, b: ['x'] });
    vault.lock();
    const again = await vaults.reopen(dir);
    expect(readKvJson(again, 'test-kv-json', 'k')).toEqual({ a: 1, b: ['x'] });
    expect(readKvJson(again, 'test-kv-json', 'missing')).toBeUndefined();
    expect(readKvJson(again, 'test-kv-json', 'missing', { strict: true })).toBeUndefined();
  });

  it('bad JSON reads as absent by default and throws when strict', async () => {
    const { vault } = await vaults.fresh();
    vault.kvSet('test-kv-json', 'bad', Buffer.from('{not json', 'utf8'));
    expect(readKvJson(vault, 'test-kv-json', 'bad')).toBeUndefined();
    expect(() => readKvJson(vault, 'test-kv-json', 'bad', { strict: true })).toThrow(SyntaxError);
  });

  it('the attachment record and the backup of group receipts stay strict', async () => {
    const { vault } = await vaults.fresh();
    vault.kvSet(ATTACHMENTS, 'a1', Buffer.from('{not json', 'utf8'));
    expect(() => readRecord(vault, 'a1')).toThrow(SyntaxError);
    vault.kvSet(GROUP_SENT, 'm1', Buffer.from('{not json', 'utf8'));
    expect(() => groupSource(vault).receiptsOf?.('m1')).toThrow(SyntaxError);
    expect(groupSource(vault).receiptsOf?.('m2')).toBeUndefined();
  });
});
