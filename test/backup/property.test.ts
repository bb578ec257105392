// Property tests: any records survive encode -> age -> decrypt -> split -> validate, whatever
// the text (any Unicode, lone surrogates, newlines, quotes) and however the bytes are chunked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { AgeWriter, createHeader, openAgeFile } from '../../main/backup/age-file.ts';
import { encodeLine, encodeMessageLine, isValidMessageLine, messageLine, messageToLine, type MessageLine } from '../../main/backup/format.ts';
import { readRecords, splitLines } from '../../main/backup/stream.ts';
import { MAX_TEXT_CHARS } from '../../shared/api.ts';
import { makeTempDir } from './helpers.ts';

// The API's id alphabet (shared/api.ts Id): what a backup may hold.
const idChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:'.split(''));
const id = fc.string({ unit: idChars, minLength: 1, maxLength: 40 });
const message: fc.Arbitrary<MessageLine> = fc.record({
  type: fc.constant('message' as const),
  id,
  conversationId: id,
  direction: fc.constantFrom('in' as const, 'out' as const),
  sender: id,
  sentAt: fc.nat(),
  receivedAt: fc.nat(),
  text: fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ maxLength: 5000 })),
  state: fc.constantFrom('queued' as const, 'sent' as const, 'delivered' as const, 'read' as const, 'received' as const, 'failed' as const),
});

function stream(messages: MessageLine[]): string {
  const counts = { contacts: 0, conversations: 0, messages: messages.length, secrets: 0 };
  return (
    encodeLine({ type: 'header', format: 'ephemera-backup', version: 1, created: 0, counts, includesIdentity: false }) +
    messages.map(encodeLine).join('') +
    encodeLine({ type: 'end', counts })
  );
}

function chunked(bytes: Buffer, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('backup stream properties', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let identity: string;
  let recipient: string;
  beforeAll(async () => {
    tmp = makeTempDir();
    identity = await generateIdentity();
    recipient = await identityToRecipient(identity);
  });
  afterAll(() => tmp.cleanup());

  it('any messages, any chunking: read back equal', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 20 }), (messages, cuts) => {
        const bytes = Buffer.from(stream(messages), 'utf8');
        const read = [...readRecords(splitLines(chunked(bytes, cuts)))].flatMap((r) => (r.kind === 'message' ? [r.line] : []));
        expect(read).toEqual(messages);
      }),
      { numRuns: 300 },
    );
  });

  it('the export fast path encodes exactly like the schema-shaped line', () => {
    fc.assert(
      fc.property(message, (m) => {
        const { type: _type, ...stored } = m;
        expect(encodeMessageLine(stored)).toBe(encodeLine(messageToLine(stored)));
      }),
      { numRuns: 500 },
    );
  });

  it('the import fast path accepts a message line only when the schema does, and every valid one', () => {
    // Each field either valid or something near a rule's edge; sometimes a field missing or one extra.
    const near = <T>(valid: fc.Arbitrary<T>, ...odd: unknown[]): fc.Arbitrary<unknown> =>
      fc.oneof({ weight: 4, arbitrary: valid }, fc.constantFrom(...odd), fc.anything());
    const candidate = fc
      .record({
        type: near(fc.constant('message'), 'contact', 'Message'),
        id: near(id, '', 'a b', 'a!b', 'x'.repeat(129), 'é', 'x'.repeat(128)),
        conversationId: near(id, '', '\u007f', 'x'.repeat(257)),
        direction: near(fc.constantFrom('in', 'out'), 'IN', ''),
        sender: near(id, 'self', 'a b', '', 'x'.repeat(129), 'x'.repeat(128), 5),
        sentAt: near(fc.nat(), -1, 1.5, 8_640_000_000_000_001, 8_640_000_000_000_000, Number.NaN, -0, '5'),
        receivedAt: near(fc.nat(), -1, 2 ** 53, Infinity, null),
        text: near(fc.string({ maxLength: 50 }), 7, null, 'x'.repeat(MAX_TEXT_CHARS), 'x'.repeat(MAX_TEXT_CHARS + 1)),
        state: near(fc.constantFrom('queued', 'sent', 'delivered', 'read', 'received', 'failed'), 'exploded', 'Read'),
      })
      .chain((r) =>
        fc.oneof(
          { weight: 3, arbitrary: fc.constant<Record<string, unknown>>(r) },
          fc.constantFrom(...Object.keys(r)).map((k) => Object.fromEntries(Object.entries(r).filter(([key]) => key !== k))),
          fc.constant({ ...r, extra: 1 }),
          fc.constant(JSON.parse(`{"__proto__":1,${JSON.stringify(r).slice(1)}`) as Record<string, unknown>),
        ),
      );
    fc.assert(
      fc.property(candidate, (v) => {
        const viaSchema = messageLine.safeParse(v).success;
        if (isValidMessageLine(v)) expect(viaSchema).toBe(true);
        // Round-trip through JSON: what a file can hold.
        const json = JSON.parse(JSON.stringify(v) ?? 'null') as unknown;
        expect(isValidMessageLine(json)).toBe(messageLine.safeParse(json).success);
      }),
      { numRuns: 3000 },
    );
  });

  it('through the age layer, at sizes around chunk boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 3 }), async (messages, pad) => {
        // Pad the stream so its length lands on or near a 64 KiB boundary some of the time.
        const base = stream(messages);
        const target = Math.max(1, Math.ceil(Buffer.byteLength(base) / 65536)) * 65536 + pad - 1;
        // Filler messages, each within the text limit; all but the last leave room for another.
        const all = [...messages];
        let rest = target - Buffer.byteLength(base);
        for (;;) {
          const empty: MessageLine = { ...messages[0]!, id: `filler-${all.length}`, text: '' };
          const room = rest - Buffer.byteLength(encodeLine(empty));
          if (room < 0) break;
          const line = { ...empty, text: 'x'.repeat(room > MAX_TEXT_CHARS ? MAX_TEXT_CHARS - 1000 : room) };
          all.push(line);
          rest -= Buffer.byteLength(encodeLine(line));
          if (rest === 0) break;
        }
        const file = join(tmp.dir, 'p.age');
        const fd = openSync(file, 'w');
        const w = new AgeWriter(fd, await createHeader({ recipients: [recipient] }));
        w.write(Buffer.from(stream(all), 'utf8'));
        w.end();
        closeSync(fd);
        const opened = await openAgeFile(file, { identities: [identity] });
        try {
          const read = [...readRecords(splitLines(opened.chunks()))].flatMap((r) => (r.kind === 'message' ? [r.line] : []));
          expect(read).toEqual(all);
        } finally {
          opened.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
