// Import's second pass on two threads. The first pass (verify) has checked the whole file; the
// second reads it again to apply it. Here a worker thread decrypts the chunks, hashes the whole
// plaintext (compared with the first pass's before the transaction commits), splits the lines and
// runs JSON.parse on those that look like message lines, while the main thread validates each
// line (stream.ts readRecords, the same rules as ever) and appends to the vault. The vault's
// append is then nearly all the main thread does (bench/backup: backup.import_vs_vault_append).
//
// Hand-over is synchronous (receiveMessageOnPort, Atomics.wait): readRecords and the apply loop
// stay plain generators. The worker stays at most MAX_AHEAD blocks ahead, so memory is flat. Its
// code is a string for the reasons main/backup/worker-export.ts gives.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { OpenedAgeFile } from './age-file.ts';
import { BackupCorrupt, BackupError, BackupMalformed } from './errors.ts';
import { MAX_LINE_BYTES } from './format.ts';
import type { StreamLine } from './stream.ts';

const WORKER_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const { createDecipheriv, createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const { fd, offset, size, port, maxLine } = workerData;
const key = Buffer.from(workerData.key);
const shared = new Int32Array(workerData.shared);
const POSTED = 0, TAKEN = 1, STOP = 2;
const CHUNK = 65536, TAG = 16, CT = CHUNK + TAG, READ_BLOCK = 16 * CT;
const ROWS = 2048, CHARS = 1 << 20, MAX_AHEAD = 4;
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const hash = createHash('sha256');
// The signature's digest: every byte before the last line, as signature.ts StreamHash computes it.
const sig = createHash('sha256');
let held;
let lineNo = 0;
class Failure extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}
const nonce = Buffer.alloc(12);
const stopped = new Error('stopped');
let counter = 0;
let block, rows, chars;
function newBlock() {
  block = { codes: new Uint8Array(ROWS), ids: [], convs: [], dirs: [], senders: [], texts: [], states: [], times: new Float64Array(ROWS * 2) };
  rows = 0;
  chars = 0;
}
function send(m, transfer) {
  port.postMessage(m, transfer);
  Atomics.add(shared, POSTED, 1);
  Atomics.notify(shared, POSTED);
}
function post() {
  if (rows === 0) return;
  for (;;) {
    if (Atomics.load(shared, STOP) !== 0) throw stopped;
    const taken = Atomics.load(shared, TAKEN);
    if (Atomics.load(shared, POSTED) - taken < MAX_AHEAD) break;
    Atomics.wait(shared, TAKEN, taken, 200);
  }
  if (rows < ROWS) {
    block.codes = block.codes.slice(0, rows);
    block.times = block.times.slice(0, 2 * rows);
  }
  send({ t: 'block', b: block }, [block.codes.buffer, block.times.buffer]);
  newBlock();
}
function line(text) {
  lineNo++;
  // A UTF-16 unit is at most 3 UTF-8 bytes, so only long lines are measured.
  if (text.length * 3 > maxLine && Buffer.byteLength(text, 'utf8') > maxLine) throw new Failure('malformed', 'line ' + lineNo + ' is longer than ' + maxLine + ' bytes');
  let v;
  // Only what can be a message line is parsed here; every other line goes over as text.
  if (text.startsWith('{"type":"message"')) {
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
  }
  const i = rows;
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 9 && v.type === 'message' && typeof v.id === 'string' && typeof v.conversationId === 'string' && typeof v.direction === 'string' && typeof v.sender === 'string' && typeof v.sentAt === 'number' && typeof v.receivedAt === 'number' && typeof v.text === 'string' && typeof v.state === 'string') {
    block.ids.push(v.id);
    block.convs.push(v.conversationId);
    block.dirs.push(v.direction);
    block.senders.push(v.sender);
    block.texts.push(v.text);
    block.states.push(v.state);
    block.times[2 * i] = v.sentAt;
    block.times[2 * i + 1] = v.receivedAt;
    chars += v.text.length;
  } else {
    block.codes[i] = 1;
    block.ids.push('');
    block.convs.push('');
    block.dirs.push('');
    block.senders.push('');
    block.texts.push(text);
    block.states.push('');
    chars += text.length;
  }
  rows = i + 1;
  if (rows === ROWS || chars >= CHARS) post();
}
// The same checks and messages as age-file.ts decryptChunks.
function open(sealed, last) {
  const fail = () => new Failure('corrupt', last ? 'the final chunk (' + counter + ') failed authentication: the file is truncated or was modified' : 'payload chunk ' + counter + ' failed authentication');
  if (sealed.length < TAG) throw fail();
  nonce.fill(0);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const body = d.update(sealed.subarray(0, sealed.length - TAG));
  try {
    d.final();
  } catch {
    body.fill(0); // unauthenticated plaintext (a truncated file's real bytes) is not kept
    throw fail();
  }
  if (last && body.length === 0 && counter > 0) throw new Failure('corrupt', 'the final chunk is empty');
  counter++;
  return body;
}
function sigAddLines(block) {
  if (held !== undefined) {
    sig.update(held);
    sig.update('\\n');
  }
  const lastNl = block.lastIndexOf(10);
  if (lastNl >= 0) sig.update(block.subarray(0, lastNl + 1));
  held = Buffer.from(block.subarray(lastNl + 1));
}
// After a block failed to decode: the number of its first line that is not valid UTF-8 (stream.ts badLineError).
function badLine(block) {
  let start = 0;
  for (let n = lineNo + 1; ; n++) {
    const nl = block.indexOf(10, start);
    try {
      decoder.decode(block.subarray(start, nl < 0 ? block.length : nl));
    } catch {
      return new Failure('malformed', 'line ' + n + ' is not valid UTF-8');
    }
    if (nl < 0) return new Failure('malformed', 'line ' + (lineNo + 1) + ' is not valid UTF-8');
    start = nl + 1;
  }
}
let carry = [];
let carryBytes = 0;
function plaintext(chunk) {
  hash.update(chunk);
  const lastNl = chunk.lastIndexOf(10);
  const tooLong = () => new Failure('malformed', 'line ' + (lineNo + 1) + ' is longer than ' + maxLine + ' bytes');
  if (lastNl < 0) {
    carryBytes += chunk.length;
    if (carryBytes > maxLine) throw tooLong();
    if (chunk.length > 0) carry.push(Buffer.from(chunk));
    return;
  }
  const head = chunk.subarray(0, lastNl);
  if (carry.length > 0 && carryBytes + chunk.indexOf(10) > maxLine) throw tooLong();
  const bytes = carry.length === 0 ? head : Buffer.concat([...carry, head]);
  let text;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw badLine(bytes);
  }
  sigAddLines(bytes);
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\\n', start);
    line(nl < 0 ? text.slice(start) : text.slice(start, nl));
    if (nl < 0) break;
    start = nl + 1;
  }
  carry = lastNl + 1 < chunk.length ? [Buffer.from(chunk.subarray(lastNl + 1))] : [];
  carryBytes = lastNl + 1 < chunk.length ? chunk.length - lastNl - 1 : 0;
}
try {
  newBlock();
  const buf = Buffer.alloc(READ_BLOCK);
  let pending = Buffer.alloc(0);
  let pos = offset;
  for (;;) {
    const n = pos < size ? readSync(fd, buf, 0, Math.min(READ_BLOCK, size - pos), pos) : 0;
    pos += n;
    const eof = n === 0 || pos >= size;
    pending = pending.length === 0 ? Buffer.from(buf.subarray(0, n)) : Buffer.concat([pending, buf.subarray(0, n)]);
    let at = 0;
    while (pending.length - at > CT) {
      plaintext(open(pending.subarray(at, at + CT), false));
      at += CT;
    }
    pending = pending.subarray(at);
    if (eof) break;
  }
  if (pending.length === 0) throw new Failure('corrupt', 'the file is truncated (the final chunk is missing)');
  plaintext(open(pending, true));
  if (carryBytes > 0) throw new Failure('malformed', 'the stream ends in the middle of a line (no end line)');
  post();
  key.fill(0);
  send({ t: 'end', sha256: hash.digest(), beforeLastLine: sig.digest() });
} catch (err) {
  key.fill(0);
  if (err !== stopped) {
    try {
      // The lines before the failure first, so errors arrive in the order the file has them.
      post();
      send({ t: 'error', kind: err instanceof Failure ? err.kind : 'io', message: String(err && err.message) });
    } catch {
      // stopped meanwhile
    }
  }
}
`;

/** Atomics.waitAsync (in Node since 16; not in the TypeScript lib this project targets). */
const waitAsync = (Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number, t: number) => { async: true; value: Promise<string> } | { async: false; value: string } }).waitAsync;

const POSTED = 0;
const TAKEN = 1;
const STOP = 2;
/** How long the main thread waits for the next block before it gives the reader up. */
const STALL_MS = 60_000;

interface Block {
  /** 0: a message line's fields in the columns; 1: a line's text in `texts`. */
  codes: Uint8Array;
  ids: string[];
  convs: string[];
  dirs: string[];
  senders: string[];
  texts: string[];
  states: string[];
  times: Float64Array;
}

type Reply = { t: 'block'; b: Block } | { t: 'end'; sha256: Uint8Array; beforeLastLine: Uint8Array } | { t: 'error'; kind: 'corrupt' | 'malformed' | 'io'; message: string };

/** The plaintext of an opened backup, read a second time on a worker thread. */
export class WorkerLineReader {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #shared = new Int32Array(new SharedArrayBuffer(12));
  readonly #exited: Promise<void>;
  #received = 0;
  /** lines() has had the end or an error. */
  #done = false;
  /** A reply taken off the port by hasMore() and not yet read by lines(). */
  #pending: Reply | undefined;
  /** Rows of the current block lines() has not handed out yet. */
  #left = 0;
  #sha256: Uint8Array | undefined;
  #beforeLastLine: Uint8Array | undefined;
  /** The worker ended before handing anything over (it could not start). */
  #dead = false;

  /**
   * `pass`: 'verify', the file's first reading (its errors are the file's: BackupCorrupt,
   * BackupMalformed, as on one thread); 'apply', a second reading of a file already checked (any
   * error means it changed on disk).
   */
  constructor(
    file: OpenedAgeFile,
    private readonly pass: 'verify' | 'apply',
  ) {
    const key = file.payloadKey();
    const keyBuffer = new ArrayBuffer(key.length);
    new Uint8Array(keyBuffer).set(key);
    key.fill(0);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    try {
      this.#worker = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: [],
        workerData: { fd: file.fd, offset: file.payloadOffset, size: file.size, port: port2, key: keyBuffer, shared: this.#shared.buffer, maxLine: MAX_LINE_BYTES },
        transferList: [port2, keyBuffer],
      });
    } catch (e) {
      // Not transferred: the key copy is still ours to wipe.
      if (keyBuffer.byteLength > 0) new Uint8Array(keyBuffer).fill(0);
      throw e;
    }
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    // An error event would otherwise be an uncaught exception; the stall timeout reports it.
    this.#worker.on('error', () => undefined);
  }

  /** Resolves once the first block (or the end) is ready, so the first synchronous wait is short. */
  async ready(): Promise<void> {
    while (Atomics.load(this.#shared, POSTED) === 0) {
      if (await Promise.race([this.#exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 2))])) {
        this.#dead = Atomics.load(this.#shared, POSTED) === 0;
        return;
      }
    }
  }

  /** Every line of the stream in order; throws BackupCorrupt when the file no longer reads as it did. */
  *lines(): Generator<StreamLine, void, undefined> {
    for (;;) {
      const r = this.#next();
      if (r.t !== 'block') this.#done = true;
      if (r.t === 'end') {
        this.#sha256 = new Uint8Array(r.sha256);
        this.#beforeLastLine = new Uint8Array(r.beforeLastLine);
        return;
      }
      if (r.t === 'error') {
        if (this.pass === 'apply') throw new BackupCorrupt(`it changed on disk between the check and the import (${r.message}); nothing was imported`);
        if (r.kind === 'malformed') throw new BackupMalformed(r.message);
        if (r.kind === 'corrupt') throw new BackupCorrupt(r.message);
        throw new BackupError('IO', `Cannot read the backup: ${r.message}`);
      }
      const { codes, ids, convs, dirs, senders, texts, states, times } = r.b;
      this.#left = codes.length;
      for (let i = 0; i < codes.length; i++) {
        this.#left--;
        if (codes[i] === 1) {
          yield texts[i] as string;
          continue;
        }
        yield { parsed: { type: 'message', id: ids[i], conversationId: convs[i], direction: dirs[i], sender: senders[i], sentAt: times[2 * i], receivedAt: times[2 * i + 1], text: texts[i], state: states[i] } };
      }
    }
  }

  /**
   * True when lines() can hand out its next line without waiting for the worker. A caller that
   * may await (the verify pass) awaits more() otherwise, so the event loop runs meanwhile instead
   * of lines() blocking in Atomics.wait.
   */
  hasMore(): boolean {
    // After the end (or an error) nothing more comes: lines() does not wait.
    if (this.#left > 0 || this.#pending !== undefined || this.#done || this.#dead) return true;
    const m = receiveMessageOnPort(this.#port) as { message: Reply } | undefined;
    if (!m) return false;
    this.#took();
    this.#pending = m.message;
    return true;
  }

  /** Resolves when hasMore() is true (or the worker ended). */
  async more(): Promise<void> {
    while (!this.hasMore()) {
      const w = waitAsync(this.#shared, POSTED, this.#received, 50);
      if (w.async) await w.value;
      else if (w.value === 'timed-out') await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** SHA-256 of every line but the last (the signature's digest, as StreamHash), once lines() has finished. */
  beforeLastLine(): Uint8Array {
    if (this.#beforeLastLine === undefined) throw new Error('the stream was not read to its end');
    return this.#beforeLastLine;
  }

  /** SHA-256 of the whole plaintext, once lines() has finished. */
  get plaintextSha256(): Uint8Array | undefined {
    return this.#sha256;
  }

  /** Stops the worker (also midway); the file's descriptor is no longer read once this resolves. */
  async stop(): Promise<void> {
    Atomics.store(this.#shared, STOP, 1);
    Atomics.notify(this.#shared, TAKEN);
    this.#port.close();
    await this.#exited;
  }

  #took(): void {
    this.#received++;
    // The block is ours now: the worker may read on.
    Atomics.add(this.#shared, TAKEN, 1);
    Atomics.notify(this.#shared, TAKEN);
  }

  #next(): Reply {
    if (this.#pending !== undefined) {
      const r = this.#pending;
      this.#pending = undefined;
      return r;
    }
    const since = Date.now();
    for (;;) {
      const m = receiveMessageOnPort(this.#port) as { message: Reply } | undefined;
      if (m) {
        this.#took();
        return m.message;
      }
      if (this.#dead || Date.now() - since > STALL_MS) throw new BackupError('IO', 'Import failed: the backup reader stopped answering');
      Atomics.wait(this.#shared, POSTED, this.#received, 100);
    }
  }
}
