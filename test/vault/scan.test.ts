// Nothing secret reaches disk in the clear: distinctive messages, contact names, the
// recovery phrase and the password are searched for in every byte of every file of the
// profile directory (vault.db, -wal, -shm if any, header, lock, sealed files), in UTF-8 and UTF-16LE,
// both while the vault is open (WAL live) and after it is closed.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Vault, TEST_KDF } from '../../main/vault/index.ts';
import { msg, tempProfile } from './helpers.ts';

const PASSWORD = 'Zebra-Quokka-Password-98123';
const NEW_PASSWORD = 'Narwhal-Second-Password-55117';
const MESSAGES = ['Purple elephants dance at midnight 4821', 'Meet me under the Xylophone bridge', 'Geheimnis: Grüße aus Köln 7731', '秘密のメッセージ東京タワー'];
const CONTACT_NAMES = ['Quixotica Wombleton', '@quixotica-handle'];

function needlesOf(phrase: string): string[] {
  const words = phrase.split(' ');
  const triples = words.slice(0, -2).map((_, i) => words.slice(i, i + 3).join(' '));
  return [...MESSAGES, ...CONTACT_NAMES, PASSWORD, NEW_PASSWORD, phrase, ...triples, 'xyzzy-secret-setting', 'outbox-secret-body'];
}

function findLeaks(dir: string, needles: string[]): string[] {
  const leaks: string[] = [];
  const files = readdirSync(dir);
  expect(files.length).toBeGreaterThan(0);
  for (const file of files) {
    const bytes = readFileSync(join(dir, file));
    for (const n of needles) {
      for (const enc of ['utf8', 'utf16le'] as const) {
        if (bytes.includes(Buffer.from(n, enc))) leaks.push(`${file}: "${n}" (${enc})`);
      }
    }
  }
  return leaks;
}

describe('at-rest scan', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it('finds no plaintext, name, phrase or password in any profile file', async () => {
    const profile = tempProfile();
    cleanup = profile.cleanup;
    const { vault, recoveryPhrase } = await Vault.create(profile.dir, PASSWORD, { kdf: TEST_KDF });
    const needles = needlesOf(recoveryPhrase);
    vault.upsertContact({ id: 'k1', handle: CONTACT_NAMES[1]!, displayName: CONTACT_NAMES[0]!, identityChanged: false, createdAt: 1 });
    vault.upsertConversation({ id: 'c1', kind: 'direct', contactId: 'k1', title: CONTACT_NAMES[0]!, lastActivity: 2, unread: 3 });
    const batch = [];
    for (let i = 0; i < 400; i++) batch.push(msg('c1', MESSAGES[i % MESSAGES.length]!, { sender: CONTACT_NAMES[1]! }));
    const stored = vault.appendMessages(batch);
    vault.updateMessageState(stored[0]!.id, 'read');
    vault.deleteMessage(stored[1]!.id);
    vault.kvSet('settings', 'theme', Buffer.from('xyzzy-secret-setting'));
    vault.setAccountSecret('device', Buffer.from(PASSWORD));
    vault.outboxPut({ id: 'o1', body: Buffer.from('outbox-secret-body'), createdAt: 1 });
    vault.sealedFiles.write('search-index', Buffer.from(MESSAGES.join('\n').repeat(100)));
    await vault.changePassword(PASSWORD, NEW_PASSWORD);

    const openFiles = readdirSync(profile.dir);
    // No -shm: exclusive locking mode keeps the WAL index in memory. Whatever files exist are scanned.
    expect(openFiles).toEqual(expect.arrayContaining(['vault.db', 'vault.db-wal', 'vault.header.json', 'vault.lock', 'search-index.sealed']));
    expect(findLeaks(profile.dir, needles)).toEqual([]);

    vault.lock();
    expect(findLeaks(profile.dir, needles)).toEqual([]);

    // Control: the scanner does find plaintext when it is there.
    const again = await Vault.unlock(profile.dir, NEW_PASSWORD);
    expect(again.getMessage(stored[2]!.id)!.text).toBe(MESSAGES[2]);
    again.lock();
    expect(findLeaks(profile.dir, [...needles, 'messages'])).toEqual(['vault.db: "messages" (utf8)']);
  });
});
