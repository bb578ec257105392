// Plaintext stream <-> validated records. The reader splits on '\n' bytes (never inside a
// UTF-8 sequence), parses each line with the zod schemas in format.ts, and checks the
// stream's structure: header first, then sections in order, references resolve, and an end
// line whose counts match what was read. Anything else is BackupMalformed.
import {
  MAX_LINE_BYTES,
  parseBodyLine,
  parseHeaderLine,
  type AccountSecretLine,
  type BackupCounts,
  type ContactLine,
  type ConversationLine,
  type HeaderLine,
  type MessageLine,
} from './format.ts';
import { BackupMalformed } from './errors.ts';

const NEWLINE = 0x0a;
const decoder = new TextDecoder('utf-8', { fatal: true });

function decodeLine(bytes: Uint8Array, lineNo: number): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new BackupMalformed(`line ${lineNo} is not valid UTF-8`, { cause });
  }
}

/** Complete lines (without '\n') from plaintext chunks; a trailing partial line is an error. */
export function* splitLines(chunks: Iterable<Uint8Array>): Generator<string, void, undefined> {
  let carry: Uint8Array[] = [];
  let carryBytes = 0;
  let lineNo = 0;
  for (const chunk of chunks) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) break;
      lineNo++;
      const piece = chunk.subarray(start, nl);
      if (carryBytes + piece.length > MAX_LINE_BYTES) throw new BackupMalformed(`line ${lineNo} is longer than ${MAX_LINE_BYTES} bytes`);
      if (carry.length === 0) {
        yield decodeLine(piece, lineNo);
      } else {
        carry.push(piece);
        yield decodeLine(Buffer.concat(carry), lineNo);
        carry = [];
        carryBytes = 0;
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      carryBytes += rest.length;
      if (carryBytes > MAX_LINE_BYTES) throw new BackupMalformed(`line ${lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes`);
      carry.push(Uint8Array.from(rest));
    }
  }
  if (carryBytes > 0) throw new BackupMalformed('the stream ends in the middle of a line (no end line)');
}

export type BackupRecord =
  | { kind: 'header'; line: HeaderLine }
  | { kind: 'account-secret'; line: AccountSecretLine }
  | { kind: 'contact'; line: ContactLine }
  | { kind: 'conversation'; line: ConversationLine }
  | { kind: 'message'; line: MessageLine }
  | { kind: 'end'; counts: BackupCounts };

const SECTION_ORDER = ['header', 'account-secret', 'contact', 'conversation', 'message', 'end'] as const;

/**
 * Validated records in file order. The stream is complete only once the 'end' record has
 * been yielded; a consumer that must not act on partial input (import) reads to the end first.
 */
export function* readRecords(lines: Iterable<string>): Generator<BackupRecord, void, undefined> {
  let lineNo = 0;
  let section = 0;
  let header: HeaderLine | undefined;
  let ended = false;
  const contactIds = new Set<string>();
  const conversationIds = new Set<string>();
  const secretNames = new Set<string>();
  let messages = 0;
  for (const text of lines) {
    lineNo++;
    if (ended) throw new BackupMalformed(`line ${lineNo}: data after the end line`);
    if (!header) {
      header = parseHeaderLine(text);
      yield { kind: 'header', line: header };
      continue;
    }
    const line = parseBodyLine(text, lineNo);
    const s = SECTION_ORDER.indexOf(line.type);
    if (s < section) throw new BackupMalformed(`line ${lineNo}: a ${line.type} line after the ${SECTION_ORDER[section]} section`);
    section = s;
    switch (line.type) {
      case 'account-secret':
        if (!header.includesIdentity) throw new BackupMalformed(`line ${lineNo}: an account secret in a backup without identity`);
        if (secretNames.has(line.name)) throw new BackupMalformed(`line ${lineNo}: duplicate account secret ${line.name}`);
        secretNames.add(line.name);
        yield { kind: 'account-secret', line };
        break;
      case 'contact':
        if (contactIds.has(line.id)) throw new BackupMalformed(`line ${lineNo}: duplicate contact id`);
        contactIds.add(line.id);
        yield { kind: 'contact', line };
        break;
      case 'conversation':
        if (conversationIds.has(line.id)) throw new BackupMalformed(`line ${lineNo}: duplicate conversation id`);
        conversationIds.add(line.id);
        yield { kind: 'conversation', line };
        break;
      case 'message':
        messages++;
        yield { kind: 'message', line };
        break;
      case 'end': {
        const actual = { contacts: contactIds.size, conversations: conversationIds.size, messages, secrets: secretNames.size };
        const c = line.counts;
        if (c.contacts !== actual.contacts || c.conversations !== actual.conversations || c.messages !== actual.messages || c.secrets !== actual.secrets) {
          throw new BackupMalformed(`the end line's counts ${JSON.stringify(c)} do not match the content ${JSON.stringify(actual)}`);
        }
        ended = true;
        yield { kind: 'end', counts: actual };
        break;
      }
    }
  }
  if (!header) throw new BackupMalformed('the backup is empty');
  if (!ended) throw new BackupMalformed('the stream has no end line (incomplete export)');
}
