// One text limit everywhere: a message longer than the API allows cannot enter the
// vault by any path, nor can a backup bring an id, handle or name that the API could not show.
// A backup holding one is refused whole with a clear error, changing nothing;
// the vault itself refuses it; a contact's over-long text is refused when decoded (BadContent:
// acknowledged and dropped); and whatever is stored passes the renderer contract's output check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { MAX_TEXT_CHARS, Message, MessageText } from '../../shared/api.ts';
import { importBackup } from '../../main/backup/import.ts';
import { decodeContent, PAD_BLOCK } from '../../main/e2e/content.ts';
import { BadContent } from '../../shared/protocol/e2e-errors.ts';
import { TEST_KDF, Vault } from '../../main/vault/index.ts';
import { ageEncryptToFile, ageKeygen, hashTree, makeTempDir, type AgeKeyPair } from './helpers.ts';

/** A version-1 backup stream (unsigned) of one contact, one conversation and one message per text. */
function stream(texts: string[], edit: { contact?: object; conversation?: object; message?: object } = {}): string {
  const counts = { contacts: 1, conversations: 1, messages: texts.length, secrets: 0 };
  const lines: object[] = [
    { type: 'header', format: 'ephemera-backup', version: 1, created: 1, counts, includesIdentity: false },
    { type: 'contact', id: 'contact-1', handle: 'alice', displayName: 'Alice', verified: false, identityChanged: false, createdAt: 1, ...edit.contact },
    { type: 'conversation', id: 'conv-1', kind: 'direct', contactId: 'contact-1', title: 'Alice', lastActivity: 5, unread: 0, ...edit.conversation },
    ...texts.map((text, i) => ({ type: 'message', id: `msg-${i}`, conversationId: 'conv-1', direction: 'in', sender: 'contact-1', sentAt: i, receivedAt: i, text, state: 'received', ...edit.message })),
    { type: 'end', counts },
  ];
  return lines.map((l) => `${JSON.stringify(l)}\n`).join('');
}

/** Padded content bytes as a contact's client would send them, without the sender-side checks. */
function rawContent(value: object): Uint8Array {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  const padded = new Uint8Array(Math.ceil((json.length + 1) / PAD_BLOCK) * PAD_BLOCK);
  padded.set(json);
  padded[json.length] = 0x80;
  return padded;
}

describe('one text limit', () => {
  const tmp = makeTempDir();
  let keys: AgeKeyPair;
  let vault: Vault;
  const vaultDir = join(tmp.dir, 'profile');

  beforeAll(async () => {
    keys = ageKeygen(tmp.dir);
    ({ vault } = await Vault.create(vaultDir, 'text limit pw', { kdf: TEST_KDF }));
    vault.appendMessages([{ id: 'mine', conversationId: 'conv-0', direction: 'out', sender: 'self', sentAt: 1, text: 'already here', state: 'sent' }]);
  });
  afterAll(() => {
    vault.lock();
    tmp.cleanup();
  });

  it('the contract, the vault and the wire use the same number', () => {
    const longest = 'x'.repeat(MAX_TEXT_CHARS);
    expect(MessageText.safeParse(longest).success).toBe(true);
    expect(MessageText.safeParse(`${longest}x`).success).toBe(false);
    const message = { id: 'a', conversationId: 'b', orderKey: 1, direction: 'in', sender: 'c', sentAt: 1, receivedAt: 1, state: 'received' };
    expect(Message.safeParse({ ...message, text: longest }).success).toBe(true);
    expect(Message.safeParse({ ...message, text: `${longest}x` }).success).toBe(false);
  });

  it('a backup with one over-long message is refused whole (MALFORMED, naming the limit), the profile byte-identical', async () => {
    const file = join(tmp.dir, 'long.age');
    ageEncryptToFile(stream(['short', 'y'.repeat(MAX_TEXT_CHARS + 1), 'after']), keys.recipient, file);
    const count = vault.countMessages();
    const before = hashTree(vaultDir);
    // Not a literal: `trustUnsigned` is accepted where unsigned backups need a confirmation.
    const options = { keys: { identities: [keys.identity] }, trustUnsigned: true };
    const err = await importBackup(vault, file, options).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('MALFORMED');
    expect(err?.message).toContain(`${MAX_TEXT_CHARS} characters`);
    expect(hashTree(vaultDir)).toEqual(before);
    expect(vault.countMessages()).toBe(count);
    expect(vault.getMessage('msg-0')).toBeUndefined();
  });

  it('a backup with an id, handle or name the API could not show is refused whole, the profile byte-identical', async () => {
    const edits: Record<string, Parameters<typeof stream>[1]> = {
      'message id over 128': { message: { id: 'x'.repeat(129) } },
      'message id with a space': { message: { id: 'a b' } },
      'sender not an id': { message: { sender: 'Mallory <m@x>' } },
      'conversation title over 256': { conversation: { title: 'T'.repeat(257) } },
      'conversation id not an id': { conversation: { id: 'conv/1' } },
      'contact display name over 256': { contact: { displayName: 'N'.repeat(257) } },
      'contact handle not a handle': { contact: { handle: 'Not A Handle' } },
    };
    const before = hashTree(vaultDir);
    for (const [what, edit] of Object.entries(edits)) {
      const file = join(tmp.dir, 'bad-field.age');
      ageEncryptToFile(stream(['hello'], edit), keys.recipient, file);
      const options = { keys: { identities: [keys.identity] }, trustUnsigned: true };
      const code = await importBackup(vault, file, options).then(
        () => 'imported',
        (e: unknown) => (e as { code?: string }).code,
      );
      expect({ what, code }).toEqual({ what, code: 'MALFORMED' });
    }
    expect(hashTree(vaultDir)).toEqual(before);
  });

  it('a backup at the limit imports, and every stored message passes the contract', async () => {
    const file = join(tmp.dir, 'max.age');
    ageEncryptToFile(stream(['short', 'é'.repeat(MAX_TEXT_CHARS)]), keys.recipient, file);
    const options = { keys: { identities: [keys.identity] }, trustUnsigned: true };
    await importBackup(vault, file, options);
    const page = vault.pageMessages('conv-1', { limit: 10 });
    expect(page.map((m) => m.text.length)).toEqual([5, MAX_TEXT_CHARS]);
    for (const m of page) {
      const { seq: _seq, ...view } = m;
      expect(Message.safeParse(view).success).toBe(true);
    }
  });

  it('the vault refuses an over-long text on every append, writing nothing', () => {
    const count = vault.countMessages();
    const base = { conversationId: 'conv-2', direction: 'in', sender: 'contact-2', sentAt: 1, state: 'received' } as const;
    expect(() => vault.appendMessages([{ ...base, id: 'ok-1', text: 'fine' }, { ...base, id: 'long-1', text: 'z'.repeat(MAX_TEXT_CHARS + 1) }])).toThrow(RangeError);
    expect(vault.countMessages()).toBe(count);
    expect(vault.getMessage('ok-1')).toBeUndefined();
  });

  it("a contact's over-long text is refused when decoded (BadContent: dropped, never stored)", () => {
    const text = { v: 1, kind: 'text', id: 'c1', sentAt: 1 };
    expect(decodeContent(rawContent({ ...text, text: 'a'.repeat(MAX_TEXT_CHARS) }))).toMatchObject({ kind: 'text' });
    expect(() => decodeContent(rawContent({ ...text, text: 'a'.repeat(MAX_TEXT_CHARS + 1) }))).toThrow(BadContent);
  });
});
