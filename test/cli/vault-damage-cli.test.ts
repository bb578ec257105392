// Damage to vault.db through the real CLI: a wrong column type, an edited
// user_version or a dropped table gives the same exit code (5) and error code as a failed tag,
// for `unlock-check` and for `history` (which reads through the Messenger, the app's API).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conversationIdOf, newContactId } from '../../main/messenger/ids.ts';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { damagedCopies } from '../vault/helpers.ts';
import { runCli, type CliResult } from './run.ts';

const PW = 'Thistle-Marble-Comet-6481';

const cli = (args: string[]): Promise<CliResult> => runCli(args, { EPHEMERA_PASSWORD: PW });

describe('a damaged vault.db through the CLI and the API', () => {
  const root = mkdtempSync(join(tmpdir(), 'ephemera-damage-cli-'));
  const original = join(root, 'original');
  const damaged = damagedCopies(root, original);
  const both = async (dir: string): Promise<{ unlock: number | null; history: number | null; code: string | undefined }> => {
    const unlock = await cli(['--profile', dir, 'unlock-check']);
    const history = await cli(['--profile', dir, '--json', 'history', 'alice']);
    // No stack trace, no TypeError: the typed error's message only.
    expect(`${unlock.stderr}${history.stderr}`).not.toMatch(/TypeError|SqliteError|\n\s+at /);
    const out = JSON.parse(history.stdout.trim() || history.stderr.trim() || '{}') as { code?: string };
    return { unlock: unlock.code, history: history.code, code: out.code };
  };

  beforeAll(async () => {
    const { vault } = await Vault.create(original, PW, { kdf: TEST_KDF });
    const contactId = newContactId();
    const conversationId = conversationIdOf(contactId);
    // Not a literal: `verified` is the flag of rows written before verifiedKey (vault/records.ts),
    // which ContactRecord no longer declares.
    const alice = { id: contactId, handle: 'alice', displayName: 'Alice', verified: false, identityChanged: false, createdAt: 1 };
    vault.upsertContact(alice);
    vault.upsertConversation({ id: conversationId, kind: 'direct', contactId, title: 'alice', lastActivity: 2, unread: 0 });
    vault.appendMessages([{ id: 'm1', conversationId, direction: 'in', sender: contactId, sentAt: 1, text: 'hello', state: 'received' }]);
    vault.lock();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('an intact profile reads', async () => {
    const r = await cli(['--profile', original, '--json', 'history', 'alice']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('hello');
  });

  // Fourteen CLI processes one after another: minutes on a loaded 2-core machine (one took 20 s at load 18).
  it('a failed tag, a wrong column type, an edited user_version, a dropped table: exit 5 and VAULT_CORRUPT', { timeout: 300_000 }, async () => {
    const tag = await both(
      damaged((db) => {
        const row = db.prepare<[], { id: number; sealed: Buffer }>('SELECT id, sealed FROM message_segments').get();
        if (!row) throw new Error('no segment');
        const last = row.sealed.length - 1;
        row.sealed.writeUInt8(row.sealed.readUInt8(last) ^ 1, last);
        db.prepare('UPDATE message_segments SET sealed = ? WHERE id = ?').run(row.sealed, row.id);
      }),
    );
    expect(tag).toEqual({ unlock: 0, history: 5, code: 'VAULT_CORRUPT' });

    const wrongType = await both(damaged((db) => db.prepare('UPDATE message_segments SET sealed = 12345').run()));
    expect(wrongType).toEqual(tag);
    const wrongContact = await both(damaged((db) => db.prepare('UPDATE contacts SET sealed = 7').run()));
    expect(wrongContact.history).toBe(5);

    for (const damage of ['PRAGMA user_version = 99', 'PRAGMA user_version = 1', 'DROP TABLE order_high', 'DROP TABLE messages']) {
      const r = await both(damaged((db) => db.exec(damage)));
      expect({ damage, ...r }).toEqual({ damage, unlock: 5, history: 5, code: 'VAULT_CORRUPT' });
    }
  });

  it('the API (Messenger) reports VAULT_CORRUPT for each', async () => {
    for (const damage of ['UPDATE message_segments SET sealed = 12345', 'PRAGMA user_version = 99', 'DROP TABLE order_high']) {
      const dir = damaged((db) => db.exec(damage));
      const m = await openMessenger({ profileDir: dir });
      try {
        const code = await (async () => {
          await m.unlock({ password: PW });
          const contact = (await m.contactsList()).find((c) => c.handle === 'alice');
          if (!contact) return 'no contact';
          await m.historyPage({ conversationId: contact.conversationId, anchor: { kind: 'newest' }, limit: 10 });
          return 'ok';
        })().catch((e: unknown) => (e as { code?: string }).code ?? String(e));
        expect({ damage, code }).toEqual({ damage, code: 'VAULT_CORRUPT' });
      } finally {
        await m.close();
      }
    }
  });
});
