// iterateMessages reads whole segments in chunks of rows (main/vault/index.ts readChunk). It
// must yield exactly what paging yields — across segment and chunk boundaries, after deletes
// (blanked slots, dropped segments), with current states — and detect tampering the same way.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import type { NewMessage, StoredMessage } from '../../main/vault/api.ts';
import { VaultCorrupt } from '../../main/vault/errors.ts';
import { ITERATE_CHUNK } from '../../main/vault/messages/read.ts';
import { msg, tempProfile } from './helpers.ts';

const PW = 'bulk read pw';

/** Every message of a conversation through the page path (decodeRows), oldest first. */
function paged(vault: Vault, conversationId: string): StoredMessage[] {
  const out: StoredMessage[] = [];
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const page = vault.pageMessages(conversationId, { after, limit: 1000 });
    out.push(...page);
    if (page.length < 1000) return out;
    after = page[page.length - 1]!.orderKey;
  }
}

describe('iterateMessages (bulk read)', () => {
  let profile: ReturnType<typeof tempProfile>;
  let vault: Vault;

  beforeEach(async () => {
    profile = tempProfile();
    vault = (await Vault.create(profile.dir, PW, { kdf: TEST_KDF })).vault;
  });
  afterEach(() => {
    vault.lock();
    profile.cleanup();
  });

  it('yields what paging yields across segment and chunk boundaries, after deletes and state updates', () => {
    // 5,000 messages in 'big' (more than two 2,048-row chunks; batches of 333 make segments of
    // 64 and partial ones, so chunk boundaries fall inside segments), interleaved with 'small'.
    const big: string[] = [];
    for (let b = 0; b < 15; b++) {
      const batch: NewMessage[] = [];
      for (let i = 0; i < 333; i++) batch.push(msg('big', `big ${b}/${i} ${'x'.repeat(i % 50)}`, { direction: i % 2 ? 'out' : 'in', state: i % 2 ? 'sent' : 'received' }));
      batch.push(msg('small', `small ${b}`), msg('a-first', `first ${b}`));
      big.push(...vault.appendMessages(batch).filter((m) => m.conversationId === 'big').map((m) => m.id));
    }
    expect(big.length).toBe(4995);
    // Deletes: one inside a segment, a run that empties a whole segment (slots 0..63 of the
    // second batch's first segment), and the ones around the first chunk boundary.
    const deleted = new Set([big[5]!, ...big.slice(333, 333 + 64), big[2047]!, big[2048]!, big[4994]!]);
    for (const id of deleted) vault.deleteMessage(id);
    // State updates: the yielded state must be the current one, not the one sealed at append.
    const updated = [big[0]!, big[1]!, big[2046]!, big[2049]!, big[4000]!];
    for (const id of updated) vault.updateMessageState(id, 'read');
    vault.updateMessageState(big[1]!, 'delivered');

    const iterated = [...vault.iterateMessages('big')];
    expect(iterated).toEqual(paged(vault, 'big'));
    expect(iterated.length).toBe(4995 - deleted.size);
    expect(iterated.some((m) => deleted.has(m.id))).toBe(false);
    const byId = new Map(iterated.map((m) => [m.id, m]));
    expect(byId.get(big[0]!)!.state).toBe('read');
    expect(byId.get(big[1]!)!.state).toBe('delivered');
    expect(byId.get(big[4000]!)!.state).toBe('read');
    expect(byId.get(big[3]!)!.state).toBe('sent');
    for (const m of iterated) expect(m.seq).toBe(vault.getMessage(m.id)!.seq);
    // Ascending order keys within the conversation.
    for (let i = 1; i < iterated.length; i++) expect(iterated[i]!.orderKey).toBeGreaterThan(iterated[i - 1]!.orderKey);

    // The whole history: conversation by conversation (ids ascending), each in stored order.
    const all = [...vault.iterateMessages()];
    expect(all).toEqual([...paged(vault, 'a-first'), ...paged(vault, 'big'), ...paged(vault, 'small')]);
    expect(all.length).toBe(vault.countMessages());
  });

  it('reads a conversation that ends exactly on a chunk boundary whole (every chunk ITERATE_CHUNK rows)', () => {
    const first = vault.appendMessages(Array.from({ length: ITERATE_CHUNK }, (_, i) => msg('a', `a${i}`)));
    const second = vault.appendMessages(Array.from({ length: 2 * ITERATE_CHUNK }, (_, i) => msg('b', `b${i}`)));
    expect([...vault.iterateMessages('a')]).toEqual(first);
    expect([...vault.iterateMessages('b')]).toEqual(second);
    expect([...vault.iterateMessages()]).toEqual([...first, ...second]);
  });

  it('a vault without any state row (the fast query) reads the same, and states appear once one is written', () => {
    const appended = vault.appendMessages(Array.from({ length: 300 }, (_, i) => msg('c', `m${i}`, { state: 'received' })));
    expect([...vault.iterateMessages()]).toEqual(appended);
    vault.updateMessageState(appended[299]!.id, 'read');
    const after = [...vault.iterateMessages()];
    expect(after[299]!.state).toBe('read');
    expect(after[299]!.seq).toBeGreaterThan(appended[299]!.seq);
    expect(after.slice(0, 299)).toEqual(appended.slice(0, 299));
  });

  it('sees writes made between chunks (deletes, appends, state updates) while it is being consumed', () => {
    const ids = vault.appendMessages(Array.from({ length: 4200 }, (_, i) => msg('c', `m${i}`))).map((m) => m.id);
    const seen: StoredMessage[] = [];
    for (const m of vault.iterateMessages('c')) {
      seen.push(m);
      if (seen.length === 1) {
        // Still ahead of the reader: the next chunks must reflect these.
        vault.deleteMessage(ids[3000]!);
        vault.updateMessageState(ids[4100]!, 'failed');
        vault.appendMessages([msg('c', 'late')]);
      }
    }
    expect(seen.length).toBe(4200);
    expect(seen.some((m) => m.id === ids[3000])).toBe(false);
    expect(seen.find((m) => m.id === ids[4100])!.state).toBe('failed');
    expect(seen.at(-1)!.text).toBe('late');
  });

  it('tampering is VaultCorrupt on the state-less query too (row pointed at another slot)', async () => {
    const ids = vault.appendMessages(Array.from({ length: 10 }, (_, i) => msg('c', `m${i}`))).map((m) => m.id);
    vault.lock();
    const db = new Database(join(profile.dir, 'vault.db'));
    db.prepare('UPDATE messages SET slot = 9 - slot WHERE id IN (?, ?)').run(ids[0], ids[9]);
    db.close();
    vault = await Vault.unlock(profile.dir, PW);
    expect(() => [...vault.iterateMessages()]).toThrow(VaultCorrupt);
  });
});
