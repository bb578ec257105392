// Export keeps the main thread's synchronous steps short: the event loop runs between the vault's
// lists, its count and the first page of messages (the slowest page: cold code and statements),
// and again right after that page, not only every 1,024 messages. Checked by order of events, not
// by time: a turn of the event loop scheduled at a step runs before the next step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import type { StoredMessage } from '../../main/vault/api.ts';
import { exportBackup } from '../../main/backup/index.ts';
import { ageKeygen, makeTempDir, type AgeKeyPair } from './helpers.ts';

describe('export yields around its first vault reads', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  let vault: Vault;

  beforeAll(async () => {
    tmp = makeTempDir('ephemera-export-turns-');
    keys = ageKeygen(tmp.dir);
    ({ vault } = await Vault.create(join(tmp.dir, 'p'), 'vault password 123', { kdf: TEST_KDF }));
    vault.upsertContact({ id: 'c-bob', handle: 'bob', displayName: 'Bob', identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'v-bob', kind: 'direct', contactId: 'c-bob', title: 'Bob', lastActivity: 1, unread: 0 });
    vault.appendMessages(Array.from({ length: 3000 }, (_, i) => ({ id: `m-${i}`, conversationId: 'v-bob', direction: 'in' as const, sender: 'c-bob', sentAt: i, text: `message ${i}`, state: 'read' as const })));
  });
  afterAll(() => {
    vault.lock();
    tmp.cleanup();
  });

  for (const thread of ['worker', 'main'] as const) {
    it(`runs the event loop after the lists, after the count and after the first page (${thread} thread)`, async () => {
      const events: string[] = [];
      const count = vault.countMessages.bind(vault);
      const lists = vault.listConversations.bind(vault);
      const iterate = vault.iterateMessages.bind(vault);
      vault.listConversations = (): ReturnType<Vault['listConversations']> => {
        setImmediate(() => events.push('turn after the lists'));
        return lists();
      };
      vault.countMessages = (conversationId?: string): number => {
        events.push('count');
        setImmediate(() => events.push('turn after the count'));
        return count(conversationId);
      };
      vault.iterateMessages = function* (conversationId?: string): IterableIterator<StoredMessage> {
        events.push('first page read');
        let n = 0;
        for (const m of iterate(conversationId)) {
          if (n === 0) setImmediate(() => events.push('turn after the first page'));
          if (n === 1) events.push('second message taken');
          n++;
          yield m;
        }
      };
      try {
        const r = await exportBackup(vault, join(tmp.dir, `out-${thread}.age`), { keys: { recipients: [keys.recipient] }, thread });
        expect(r.counts.messages).toBe(3000);
      } finally {
        delete (vault as Partial<Vault>).countMessages;
        delete (vault as Partial<Vault>).listConversations;
        delete (vault as Partial<Vault>).iterateMessages;
      }
      expect(events).toEqual(['turn after the lists', 'count', 'turn after the count', 'first page read', 'turn after the first page', 'second message taken']);
    });
  }
});
