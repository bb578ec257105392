// The author's side of group receipts on a real vault (main/messenger/group-receipt-log.ts): a
// member's receipt is one logged write in its receive transaction; the fold applies every logged
// receipt to its messages' records, each record read and written once however many members
// answered, with the rules of before (only own texts of that group sent to that member, read
// implies delivered, the first time counts), and a deleted message's record is not brought back.
import { afterEach, describe, expect, it } from 'vitest';
import { foldGroupReceipts, GROUP_RECEIPT_LOG, GROUP_SENT, storeGroupReceipt, type SentRecord } from '../../main/messenger/group-receipt-log.ts';
import { groupSource } from '../../main/messenger/group-backup.ts';
import { outgoingMessageId } from '../../main/messenger/ids.ts';
import type { Vault } from '../../main/vault/index.ts';
import { testVaults } from '../vault/helpers.ts';

const vaults = testVaults();
afterEach(() => vaults.cleanup());

const ID_KEY = new Uint8Array(32).fill(7);
const withIdKey = <T,>(fn: (k: Uint8Array) => T): T => fn(ID_KEY);
const GROUP = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);
const members = Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, '0')}`);

const record = (vault: Vault, id: string): SentRecord | undefined => {
  const raw = vault.kvGet(GROUP_SENT, id);
  return raw ? (JSON.parse(Buffer.from(raw).toString('utf8')) as SentRecord) : undefined;
};
function sent(vault: Vault, contentId: string, groupId = GROUP): string {
  const id = outgoingMessageId(ID_KEY, contentId);
  const rec: SentRecord = { groupId, to: members, delivered: {}, read: {} };
  vault.kvSet(GROUP_SENT, id, Buffer.from(JSON.stringify(rec), 'utf8'));
  return id;
}
const receipt = (vault: Vault, from: string, ids: string[], type: 'delivered' | 'read' = 'delivered', at = Date.now(), groupId = GROUP): string | undefined =>
  vault.transaction(() => storeGroupReceipt(vault, from, { v: 1, kind: 'group-receipt', groupId, type, ids }, withIdKey, at));

describe('group receipt log', () => {
  it('every member answering costs one logged write each; the fold writes each record once', async () => {
    const { vault } = await vaults.fresh();
    const texts = ['c1', 'c2', 'c3'];
    const ids = texts.map((c) => sent(vault, c));
    const writes: string[] = [];
    const set = vault.kvSet.bind(vault);
    vault.kvSet = (ns: string, key: string, value: Uint8Array) => {
      writes.push(ns);
      set(ns, key, value);
    };
    const t0 = Date.now();
    for (const [i, m] of members.entries()) expect(receipt(vault, m, texts, 'delivered', t0 + i)).toBe(GROUP);
    expect(writes).toEqual(members.map(() => GROUP_RECEIPT_LOG));
    // Nothing applied yet: a record is read only after a fold.
    expect(record(vault, ids[0]!)!.delivered).toEqual({});

    writes.length = 0;
    expect(foldGroupReceipts(vault)).toEqual(new Set([GROUP]));
    expect(writes).toEqual([GROUP_SENT, GROUP_SENT, GROUP_SENT]);
    for (const id of ids) expect(record(vault, id)!.delivered).toEqual(Object.fromEntries(members.map((m, i) => [m, t0 + i])));
    expect(vault.kvKeys(GROUP_RECEIPT_LOG)).toEqual([]);
    // An empty log: nothing read, nothing written, no group changed.
    writes.length = 0;
    expect(foldGroupReceipts(vault)).toEqual(new Set());
    expect(writes).toEqual([]);
  });

  it('the rules of a receipt: own texts of its group sent to its member, read implies delivered, the first time counts', async () => {
    const { vault } = await vaults.fresh();
    const mine = sent(vault, 'mine');
    const elsewhere = sent(vault, 'elsewhere', OTHER);
    const t = Date.now();
    receipt(vault, 'm01', ['mine'], 'read', t); // read first: delivered at the same time
    receipt(vault, 'm01', ['mine'], 'delivered', t + 5); // later: changes nothing
    receipt(vault, 'm02', ['mine'], 'delivered', t + 1);
    receipt(vault, 'm02', ['mine'], 'delivered', t + 9);
    receipt(vault, 'stranger', ['mine'], 'read', t + 2); // not sent to them
    receipt(vault, 'm03', ['elsewhere'], 'delivered', t + 3); // named under the wrong group
    receipt(vault, 'm03', ['nosuchtext'], 'delivered', t + 4); // not ours
    expect(foldGroupReceipts(vault)).toEqual(new Set([GROUP]));
    expect(record(vault, mine)).toEqual({ groupId: GROUP, to: members, delivered: { m01: t, m02: t + 1 }, read: { m01: t } });
    expect(record(vault, elsewhere)).toEqual({ groupId: OTHER, to: members, delivered: {}, read: {} });
    expect(vault.kvGet(GROUP_SENT, outgoingMessageId(ID_KEY, 'nosuchtext'))).toBeUndefined();
    // Only unchanged records left: no group changed.
    receipt(vault, 'm02', ['mine'], 'delivered', t + 20);
    expect(foldGroupReceipts(vault)).toEqual(new Set());
  });

  it('a backup export reads the receipts logged and not yet folded', async () => {
    const { vault } = await vaults.fresh();
    const id = sent(vault, 'kept');
    const t = Date.now();
    receipt(vault, 'm05', ['kept'], 'read', t);
    expect(groupSource(vault).receiptsOf?.(id)).toEqual({ messageId: id, groupId: GROUP, to: members, delivered: { m05: t }, read: { m05: t } });
  });

  it("a message deleted before the fold keeps no record: its receipts apply to nothing", async () => {
    const { vault } = await vaults.fresh();
    const id = sent(vault, 'gone');
    receipt(vault, 'm01', ['gone']);
    vault.kvDelete(GROUP_SENT, id); // as the deletion journal does with the message
    foldGroupReceipts(vault);
    expect(vault.kvGet(GROUP_SENT, id)).toBeUndefined();
    expect(vault.kvKeys(GROUP_RECEIPT_LOG)).toEqual([]);
  });
});
