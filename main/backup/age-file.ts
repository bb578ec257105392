// The age file layer (C2SP age spec). age-encryption builds and checks the header (recipient
// stanzas, X25519, header MAC); the payload STREAM (64 KiB ChaCha20-Poly1305 chunks, counter
// nonce, last-chunk flag) is done here on Node's native ChaCha20-Poly1305 when present, about
// 15x faster than the pure-JS cipher, falling back to @noble/ciphers. Both directions are
// synchronous over a file descriptor so that import can apply inside one SQLite transaction.
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, writevSync } from 'node:fs';
import { hkdfSync, randomBytes } from 'node:crypto';
import { Decrypter, Encrypter, type Identity, type Recipient, type Stanza } from 'age-encryption';
import { BackupBadParameters, BackupCorrupt, BackupError, BackupIoError, BackupWrongKey } from './errors.ts';
import { chunkNonce, defaultChunkCipher, openChunkWithNonce, sealChunkParts, STREAM_CHUNK_BYTES, STREAM_TAG_BYTES, type ChunkCipher } from '../../shared/protocol/stream.ts';
import { DEFAULT_WORK_FACTOR, ScryptIdentity, ScryptRecipient, checkWorkFactor, parseWorkFactor } from './scrypt.ts';

// The payload is age's STREAM, the same chunk AEAD as attachments (shared/protocol/stream.ts).
export const CHUNK_SIZE = STREAM_CHUNK_BYTES;
const TAG_SIZE = STREAM_TAG_BYTES;
const CT_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
const NONCE_SIZE = 16;
/** Headers are a few hundred bytes per recipient; anything this long is not a header. */
const MAX_HEADER_BYTES = 256 * 1024;
const READ_BLOCK = 16 * CT_CHUNK_SIZE;
const WRITE_BLOCK = 16 * CT_CHUNK_SIZE;

export type EncryptKeys = { passphrase: string; workFactor?: number } | { recipients: readonly string[] };
/**
 * `fileKey`: the file key an earlier open of the same file captured (`onFileKey`), so a file
 * opened again (an opened backup's attachments) needs no passphrase or identity kept in memory;
 * the header MAC still has to verify under it. `onFileKey` gets the file key before it is zeroed
 * (copy it).
 */
export type DecryptKeys = ({ passphrase: string } | { identities: readonly string[] } | { fileKey: Uint8Array }) & { onFileKey?: (fileKey: Uint8Array) => void };

export { defaultChunkCipher, type ChunkCipher };

const X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const X25519_IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** age1... strings the user typed; only X25519 recipients (what every age version reads). */
export function validateRecipients(recipients: readonly string[]): void {
  if (recipients.length === 0) throw new BackupBadParameters('At least one recipient is needed.');
  for (const r of recipients) {
    if (!X25519_RECIPIENT.test(r)) throw new BackupBadParameters(`Not an age X25519 recipient: ${r.slice(0, 80)}`);
  }
}

/** Reads AGE-SECRET-KEY-1 lines from an age identity file (as written by age-keygen). */
export function parseIdentityFile(text: string): string[] {
  const ids = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const l of ids) {
    if (!X25519_IDENTITY.test(l)) throw new BackupBadParameters('The identity file has a line that is not an age X25519 identity.');
  }
  if (ids.length === 0) throw new BackupBadParameters('The identity file holds no identity.');
  return ids;
}

function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

/** Captures the file key that age-encryption generates, adding no stanza of its own. */
class FileKeyCapture implements Recipient {
  constructor(private readonly onFileKey: (k: Uint8Array) => void) {}
  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    this.onFileKey(fileKey);
    return [];
  }
}

export interface AgeHeader {
  /** The header bytes, MAC line included. */
  header: Uint8Array;
  fileKey: Uint8Array;
}

/**
 * An empty age file from `e`. Its encrypt() of bytes reads the output through `new Response(stream)`,
 * whose first use loads Node's fetch (undici) on the calling thread: 45-60 ms of CPU in one turn
 * at a process's first export. Given a stream it returns a stream, read here with a reader.
 */
async function encryptEmpty(e: Encrypter): Promise<Buffer> {
  const out = await e.encrypt(new ReadableStream<Uint8Array>({ start: (c) => c.close() }));
  const parts: Uint8Array[] = [];
  const reader = out.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return Buffer.concat(parts);
}

/** Builds a header with age-encryption and keeps its file key for the payload. */
export async function createHeader(keys: EncryptKeys): Promise<AgeHeader> {
  let fileKey: Uint8Array | undefined;
  const capture = (k: Uint8Array): void => {
    fileKey = Uint8Array.from(k);
  };
  const e = new Encrypter();
  if ('passphrase' in keys) {
    if (keys.passphrase.length === 0) throw new BackupBadParameters('The passphrase is empty.');
    e.addRecipient(new ScryptRecipient(keys.passphrase, keys.workFactor ?? DEFAULT_WORK_FACTOR, capture));
  } else {
    validateRecipients(keys.recipients);
    for (const r of keys.recipients) e.addRecipient(r);
    e.addRecipient(new FileKeyCapture(capture));
  }
  // An empty file is header || 16-byte nonce || one empty final chunk (16-byte tag).
  const empty = await encryptEmpty(e);
  const header = empty.subarray(0, empty.length - NONCE_SIZE - TAG_SIZE);
  const headerText = Buffer.from(header).toString('latin1');
  if (!fileKey || !headerText.startsWith('age-encryption.org/v1\n') || !/\n--- [A-Za-z0-9+/]+\n$/.test(headerText)) {
    throw new BackupError('IO', 'age-encryption produced an unexpected header');
  }
  return { header: Uint8Array.from(header), fileKey };
}

/**
 * The start of a payload: the bytes that precede the first chunk (header, payload nonce) and the
 * payload key derived from a fresh nonce. Zeroes the header's file key.
 */
export function beginPayload({ header, fileKey }: AgeHeader): { prefix: Uint8Array[]; key: Buffer } {
  const nonce = randomBytes(NONCE_SIZE);
  const key = payloadKey(fileKey, nonce);
  fileKey.fill(0);
  return { prefix: [header, nonce], key };
}

/**
 * Writes an age file to an open descriptor: header, payload nonce, then STREAM chunks.
 * A full chunk is sealed only when more data arrives, so a payload that ends on a chunk
 * boundary still ends with a (full) last chunk, as the spec requires.
 */
export class AgeWriter {
  private readonly key: Buffer;
  private readonly plain = Buffer.alloc(CHUNK_SIZE);
  private used = 0;
  private counter = 0;
  private out: Uint8Array[] = [];
  private outBytes = 0;
  private closed = false;
  /** Ciphertext bytes written so far. */
  written = 0;

  constructor(
    private readonly fd: number,
    header: AgeHeader,
    private readonly cipher: ChunkCipher = defaultChunkCipher(),
  ) {
    const start = beginPayload(header);
    this.key = start.key;
    for (const b of start.prefix) this.push(b);
  }

  write(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) {
      if (this.used === CHUNK_SIZE) {
        this.push(...sealChunkParts(this.key, chunkNonce(this.counter++, false), this.plain, this.cipher));
        this.used = 0;
      }
      // A whole chunk with more data after it is sealed straight from the caller's buffer.
      if (this.used === 0 && data.length - off > CHUNK_SIZE) {
        this.push(...sealChunkParts(this.key, chunkNonce(this.counter++, false), data.subarray(off, off + CHUNK_SIZE), this.cipher));
        off += CHUNK_SIZE;
        continue;
      }
      const n = Math.min(CHUNK_SIZE - this.used, data.length - off);
      this.plain.set(data.subarray(off, off + n), this.used);
      this.used += n;
      off += n;
    }
  }

  /** Seals the last chunk and flushes. The caller fsyncs and closes the descriptor. */
  end(): void {
    this.push(...sealChunkParts(this.key, chunkNonce(this.counter, true), this.plain.subarray(0, this.used), this.cipher));
    this.flush();
    this.destroy();
  }

  /** Drops the key and buffered plaintext (also on cancel). */
  destroy(): void {
    this.closed = true;
    this.key.fill(0);
    this.plain.fill(0);
    this.out = [];
  }

  private push(...parts: Uint8Array[]): void {
    if (this.closed) throw new BackupError('IO', 'write after end');
    for (const b of parts) {
      this.out.push(b);
      this.outBytes += b.length;
    }
    if (this.outBytes >= WRITE_BLOCK) this.flush();
  }

  /** One writev per ~1 MiB of ciphertext; a short write continues where it stopped. */
  private flush(): void {
    let parts = this.out;
    let left = this.outBytes;
    while (left > 0) {
      let n = writevSync(this.fd, parts);
      left -= n;
      if (left === 0) break;
      let i = 0;
      while (n >= (parts[i] as Uint8Array).length) n -= (parts[i++] as Uint8Array).length;
      parts = [(parts[i] as Uint8Array).subarray(n), ...parts.slice(i + 1)];
    }
    this.written += this.outBytes;
    this.out = [];
    this.outBytes = 0;
  }
}

/** An age file whose header has been verified (MAC checked, file key unwrapped). */
export interface OpenedAgeFile {
  readonly fd: number;
  readonly size: number;
  /** Ciphertext offset of the first chunk. */
  readonly payloadOffset: number;
  /** Plaintext chunks, each authenticated before it is yielded; throws BackupCorrupt otherwise. Can be called more than once. */
  chunks(): Generator<Uint8Array, void, undefined>;
  close(): void;
}

function readHeaderBytes(fd: number, size: number): Buffer {
  const want = Math.min(size, MAX_HEADER_BYTES);
  const buf = Buffer.alloc(want);
  let got = 0;
  while (got < want) {
    const n = readSync(fd, buf, got, want - got, got);
    if (n === 0) break;
    got += n;
  }
  const head = buf.subarray(0, got);
  if (!head.subarray(0, 22).equals(Buffer.from('age-encryption.org/v1\n'))) {
    if (head.subarray(0, 34).toString('latin1') === '-----BEGIN AGE ENCRYPTED FILE-----') {
      throw new BackupCorrupt('this is an ASCII-armored age file; de-armor it first (age -d reads it)');
    }
    throw new BackupCorrupt('not an age-encrypted file (bad version line)');
  }
  // The MAC line is the first line that starts with "---" (stanza lines start with "->", bodies are base64).
  const macStart = head.indexOf('\n---');
  if (macStart < 0) throw new BackupCorrupt('the age header is truncated');
  const macEnd = head.indexOf(0x0a, macStart + 1);
  if (macEnd < 0) throw new BackupCorrupt('the age header is truncated');
  return head.subarray(0, macEnd + 1);
}

function stanzaArgLines(header: Buffer): string[][] {
  return header
    .toString('latin1')
    .split('\n')
    .filter((l) => l.startsWith('-> '))
    .map((l) => l.slice(3).split(' '));
}

/** Maps age-encryption's untyped header errors to ours. */
function mapHeaderError(err: unknown, keys: DecryptKeys, stanzaTypes: string[]): BackupError {
  if (err instanceof BackupError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message.includes('no identity matched')) {
    if ('passphrase' in keys && !stanzaTypes.includes('scrypt')) {
      return new BackupBadParameters('This backup is encrypted to an age identity, not a passphrase; pass --identity.');
    }
    if ('identities' in keys && stanzaTypes.length === 1 && stanzaTypes[0] === 'scrypt') {
      return new BackupBadParameters('This backup is encrypted with a passphrase, not to an age identity.');
    }
    return new BackupWrongKey('passphrase' in keys ? 'passphrase' : 'identity');
  }
  if (message.includes('HMAC')) return new BackupCorrupt('the header MAC does not match', { cause: err });
  // The library's text can quote header bytes from the file: printable ASCII only, and short.
  const detail = message.replace(/[^\x20-\x7e]/g, '?').slice(0, 160);
  return new BackupCorrupt(`the age header is malformed (${detail})`, { cause: err });
}

/** `noFollow`: refuse (ELOOP) when the last component of `path` is a symbolic link. */
export async function openAgeFile(path: string, keys: DecryptKeys, cipher: ChunkCipher = defaultChunkCipher(), options: { noFollow?: boolean } = {}): Promise<OpenedAgeFile> {
  let fd: number;
  try {
    fd = openSync(path, options.noFollow === true ? fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW : 'r');
  } catch (cause) {
    throw new BackupIoError(`Cannot open ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    const size = fstatSync(fd).size;
    const header = readHeaderBytes(fd, size);
    const stanzas = stanzaArgLines(header);
    // Refuse an expensive scrypt before doing any work.
    for (const args of stanzas) if (args[0] === 'scrypt') checkWorkFactor(parseWorkFactor(args[2]));

    const d = new Decrypter();
    if ('passphrase' in keys) {
      d.addIdentity(new ScryptIdentity(keys.passphrase) satisfies Identity);
    } else if ('fileKey' in keys) {
      const held = keys.fileKey;
      d.addIdentity({ unwrapFileKey: () => Uint8Array.from(held) } satisfies Identity);
    } else {
      if (keys.identities.length === 0) throw new BackupBadParameters('No identity given.');
      for (const id of keys.identities) {
        if (!X25519_IDENTITY.test(id)) throw new BackupBadParameters('Not an age X25519 identity (AGE-SECRET-KEY-1...).');
        d.addIdentity(id);
      }
    }
    let fileKey: Uint8Array;
    try {
      fileKey = await d.decryptHeader(header);
    } catch (err) {
      throw mapHeaderError(
        err,
        keys,
        stanzas.map((a) => a[0] ?? ''),
      );
    }
    if (size < header.length + NONCE_SIZE + TAG_SIZE) {
      fileKey.fill(0);
      throw new BackupCorrupt('the file is truncated (no payload)');
    }
    const nonce = Buffer.alloc(NONCE_SIZE);
    readSync(fd, nonce, 0, NONCE_SIZE, header.length);
    const key = payloadKey(fileKey, nonce);
    keys.onFileKey?.(fileKey);
    fileKey.fill(0);
    const payloadOffset = header.length + NONCE_SIZE;
    let open = true;
    return {
      fd,
      size,
      payloadOffset,
      chunks: () => decryptChunks(fd, payloadOffset, size, key, cipher),
      close: () => {
        if (!open) return;
        open = false;
        key.fill(0);
        closeSync(fd);
      },
    };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function* decryptChunks(fd: number, offset: number, size: number, key: Buffer, cipher: ChunkCipher): Generator<Uint8Array, void, undefined> {
  let pos = offset;
  let counter = 0;
  // What a read left undecrypted (at most one chunk, held back until more bytes follow it) moves
  // to the front and the next read lands after it: one copy of a chunk per read, not of the block.
  const buf = Buffer.alloc(CT_CHUNK_SIZE + READ_BLOCK);
  let held = 0;
  for (;;) {
    const n = pos < size ? readSync(fd, buf, held, Math.min(READ_BLOCK, size - pos), pos) : 0;
    pos += n;
    const eof = n === 0 || pos >= size;
    const end = held + n;
    let at = 0;
    // A chunk is known not to be the last only when more bytes follow it.
    while (end - at > CT_CHUNK_SIZE) {
      const plain = openChunkWithNonce(key, chunkNonce(counter, false), buf.subarray(at, at + CT_CHUNK_SIZE), cipher);
      if (!plain) throw new BackupCorrupt(`payload chunk ${counter} failed authentication`);
      counter++;
      at += CT_CHUNK_SIZE;
      yield plain;
    }
    buf.copyWithin(0, at, end);
    held = end - at;
    if (eof) break;
  }
  if (held === 0) throw new BackupCorrupt('the file is truncated (the final chunk is missing)');
  const last = openChunkWithNonce(key, chunkNonce(counter, true), buf.subarray(0, held), cipher);
  if (!last) {
    throw new BackupCorrupt(`the final chunk (${counter}) failed authentication: the file is truncated or was modified`);
  }
  if (last.length === 0 && counter > 0) throw new BackupCorrupt('the final chunk is empty');
  yield last;
}
