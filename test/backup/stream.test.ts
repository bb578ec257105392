// The plaintext stream: line splitting, zod validation of every line, structure checks, the
// version gate; and read-only open of a file encrypted by the real `age` tool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readRecords, splitLines } from '../../main/backup/stream.ts';
import { BackupError } from '../../main/backup/errors.ts';
import { openBackup, foldText } from '../../main/backup/open.ts';
import { ageEncryptToFile, ageKeygen, makeTempDir, sampleBackupLines, type AgeKeyPair } from './helpers.ts';

function parseAll(text: string, pieceSize = 1 << 20): number {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += pieceSize) pieces.push(bytes.subarray(i, i + pieceSize));
  return [...readRecords(splitLines(pieces))].length;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof BackupError) return err.code;
    throw err;
  }
  return 'no error';
}

const good = sampleBackupLines();
const joined = (lines: string[]): string => lines.map((l) => `${l}\n`).join('');

describe('backup stream', () => {
  it('parses a valid stream whatever the chunking, even inside multi-byte characters', () => {
    for (const size of [1, 2, 3, 7, 64, 1 << 20]) expect(parseAll(joined(good), size)).toBe(good.length);
  });

  const edit = (i: number, patch: Record<string, unknown>): string[] =>
    good.map((l, j) => (j === i ? JSON.stringify({ ...(JSON.parse(l) as object), ...patch }) : l));
  const lastIndex = good.length - 1;
  const cases: Array<[string, string]> = [
    ['not JSON', joined([...good.slice(0, 3), '{"type":"contact",', ...good.slice(3)])],
    ['no end line', joined(good.slice(0, -1))],
    ['no trailing newline', joined(good).slice(0, -1)],
    ['data after the end', joined([...good, good[3] as string])],
    ['an unknown field', joined(edit(1, { extra: 1 }))],
    ['a wrong type', joined(edit(1, { verified: 'yes' }))],
    ['an unknown line type', joined([...good.slice(0, 2), '{"type":"attachment"}', ...good.slice(2)])],
    ['a bad message state', joined(edit(5, { state: 'exploded' }))],
    ['a negative timestamp', joined(edit(5, { sentAt: -1 }))],
    ['an id the vault would refuse', joined(edit(5, { id: 'has space' }))],
    ['duplicate contact ids', joined(edit(2, { id: 'c-alice' }))],
    ['sections out of order', joined([good[0] as string, good[3] as string, good[1] as string, good[2] as string, ...good.slice(4)])],
    ['end counts that do not match', joined(edit(lastIndex, { counts: { contacts: 2, conversations: 2, messages: 99, secrets: 0 } }))],
    ['a secret in a backup without identity', joined([good[0] as string, '{"type":"account-secret","name":"x","value":"AA=="}', ...good.slice(1)])],
    ['an empty stream', ''],
    ['a header that is not ours', joined(['{"type":"header","format":"other","version":1}', ...good.slice(1)])],
    ['a wrong header field', joined(edit(0, { created: 'yesterday' }))],
  ];
  for (const [name, text] of cases) {
    it(`refuses ${name}`, () => {
      expect(codeOf(() => parseAll(text))).toBe('MALFORMED');
    });
  }

  it('refuses invalid UTF-8 and over-long lines', () => {
    const bad = Buffer.concat([Buffer.from(joined(good.slice(0, 1))), Buffer.from([0xff, 0xfe, 0x0a])]);
    expect(codeOf(() => [...readRecords(splitLines([bad]))])).toBe('MALFORMED');
    const long = Buffer.alloc(17 * 1024 * 1024, 0x61);
    expect(codeOf(() => [...readRecords(splitLines([Buffer.from(joined(good.slice(0, 1))), long]))])).toBe('MALFORMED');
  });

  it('names the line that is not UTF-8, however the bytes are chunked, and keeps a BOM (not JSON)', () => {
    const bytes = Buffer.concat([Buffer.from(joined(good.slice(0, 3))), Buffer.from('{"type":"con'), Buffer.from([0xc3]), Buffer.from('"}\n')]);
    for (const size of [1, 5, 64, 1 << 20]) {
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
      expect(() => [...splitLines(pieces)]).toThrow(/line 4 is not valid UTF-8/);
    }
    const bom = joined([good[0] as string, `\ufeff${good[1] as string}`, ...good.slice(2)]);
    expect(codeOf(() => parseAll(bom))).toBe('MALFORMED');
    expect([...splitLines([Buffer.from('a\n\nb\n')])]).toEqual(['a', '', 'b']);
  });

  it('carries dangling references as the vault allows them (messages without a conversation record)', () => {
    expect(parseAll(joined(edit(5, { conversationId: 'v-nobody' })))).toBe(good.length);
    expect(parseAll(joined(edit(3, { contactId: 'c-nobody' })))).toBe(good.length);
  });

  it('names a future version as such', () => {
    expect(codeOf(() => parseAll(joined(edit(0, { version: 7, newField: true }))))).toBe('UNSUPPORTED_VERSION');
  });

  it('folds case and diacritics for search', () => {
    expect(foldText('Crème BRÛLÉE Straße ﬁne')).toBe('creme brulee strasse fine');
  });
});

describe('read-only open of a file made by the age tool', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  beforeAll(() => {
    tmp = makeTempDir();
    keys = ageKeygen(tmp.dir);
  });
  afterAll(() => tmp.cleanup());

  it('browses a contact history and searches without any profile', async () => {
    const file = join(tmp.dir, 'b.age');
    ageEncryptToFile(joined(sampleBackupLines(2000)), keys.recipient, file);
    const archive = await openBackup(file, { keys: { identities: [keys.identity] } });
    expect(archive.counts).toEqual({ contacts: 2, conversations: 2, messages: 4000, secrets: 0 });
    const h = archive.history('ALICE');
    expect(h.contact.id).toBe('c-alice');
    expect(h.messages).toHaveLength(2000);
    expect(h.messages[0]?.id).toBe('m-alice-0');
    expect(archive.history('bob straße', { limit: 5 }).messages.map((m) => m.id)).toEqual(
      [1995, 1996, 1997, 1998, 1999].map((i) => `m-bob-${i}`),
    );
    const hits = archive.search('cafe at the grosse strasse');
    expect(hits.map((x) => x.message.id).sort()).toEqual(['m-alice-1', 'm-bob-1']);
    expect(archive.search('東京')).toHaveLength(2);
    expect(archive.search('message 1999 for bob')).toHaveLength(1);
    expect(() => archive.history('carol')).toThrow(BackupError);
    expect(archive.messagesOf('v-bob')).toHaveLength(2000);
    expect(archive.messagesOf('v-nobody')).toEqual([]);
    expect(archive.search('message 5', { conversationId: 'v-bob', limit: 1000 }).every((x) => x.message.conversationId === 'v-bob')).toBe(true);
    expect(archive.search('message', { from: 3000, to: 3002, limit: 1000 }).map((x) => x.message.sentAt).sort()).toEqual([3000, 3000, 3002, 3002]);
  });

  it('a valid age file with malformed lines inside is refused', async () => {
    const file = join(tmp.dir, 'bad.age');
    ageEncryptToFile('{"type":"header","format":"ephemera-backup","version":1\nnot json\n', keys.recipient, file);
    await expect(openBackup(file, { keys: { identities: [keys.identity] } })).rejects.toMatchObject({ code: 'MALFORMED' });
  });

  it('cancellation stops the read', async () => {
    const file = join(tmp.dir, 'big.age');
    ageEncryptToFile(joined(sampleBackupLines(20_000)), keys.recipient, file);
    const ac = new AbortController();
    const p = openBackup(file, {
      keys: { identities: [keys.identity] },
      signal: ac.signal,
      onProgress: (pr) => {
        if (pr.done > 0) ac.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
