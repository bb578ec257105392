// Export's second thread. The main thread reads the vault (its own floor: SQLite, segment
// opening) and hands each message's fields over in column blocks; a worker thread encodes the
// JSON lines, hashes them for the signature, seals the age STREAM chunks and writes them. On two
// cores the two halves overlap, so export takes about as long as reading the vault alone
// (bench/backup: backup.export_vs_vault_read), and the main thread's event loop only ever runs a
// block's worth of reading at a time.
//
// The worker's code is a string (no module file), like main/search/mirror.ts: it needs only
// node:crypto and node:fs, and a string survives every way the app is run (tsx, vitest, the
// bundled Electron main) alike. Its line encoding is export's encodeMessageLine written out
// again; test/backup/export-worker.test.ts holds the two byte-identical.
import { Worker } from 'node:worker_threads';
import type { StoredMessage } from '../vault/api.ts';
import { beginPayload, CHUNK_SIZE, type AgeHeader } from './age-file.ts';
import { BackupError } from './errors.ts';

/** Where export's lines go: encoded, hashed for the signature, encrypted, written. */
export interface LineSink {
  /** Lines already encoded (each ends in '\n'; the caller checked their length). */
  text(lines: string): void;
  /** A message that is not a tombstone, encoded as encodeMessageLine(m) would; false when the caller must encode it (sink.text). */
  message(m: StoredMessage): boolean;
  /** Resolves once the sink has room for more (memory stays flat whatever the history's size). */
  room(): Promise<void>;
  /** SHA-256 of every byte so far; later bytes (the signature line) are not hashed. */
  digest(): Promise<Uint8Array>;
  /** Seals the last chunk and writes everything; the ciphertext bytes written. The caller fsyncs. */
  end(): Promise<number>;
  /** After a failure or a cancel: stops, zeroes what it held; the descriptor is unused once it resolves. */
  dispose(): Promise<void>;
}

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createCipheriv, createHash } = require('node:crypto');
const { fdatasyncSync, writevSync } = require('node:fs');
const CHUNK = ${CHUNK_SIZE};
const TAG = 16;
const WRITE_BLOCK = 16 * (CHUNK + TAG);
const BATCH = 1 << 20;
const SYNC_EVERY = 16 << 20;
const DIRECTIONS = workerData.directions;
const STATES = workerData.states;
const fd = workerData.fd;
const key = Buffer.from(workerData.key);
const stop = new Int32Array(workerData.stop);
const plain = Buffer.alloc(CHUNK);
const batch = Buffer.alloc(BATCH);
const nonce = Buffer.alloc(12);
let plainUsed = 0;
let counter = 0;
let used = 0;
let out = [];
let outBytes = 0;
let written = 0;
let synced = 0;
let hash = createHash('sha256');
const q = JSON.stringify;

function flush() {
  let parts = out;
  let left = outBytes;
  while (left > 0) {
    let n = writevSync(fd, parts);
    left -= n;
    if (left === 0) break;
    let i = 0;
    while (n >= parts[i].length) n -= parts[i++].length;
    parts = [parts[i].subarray(n), ...parts.slice(i + 1)];
  }
  written += outBytes;
  out = [];
  outBytes = 0;
  // Written back while the main thread still reads, so the final fsync (export's commit) is short.
  if (written - synced >= SYNC_EVERY) {
    fdatasyncSync(fd);
    synced = written;
  }
}
function push(b) {
  out.push(b);
  outBytes += b.length;
  if (outBytes >= WRITE_BLOCK) flush();
}
// 11-byte big-endian chunk counter, then the last-chunk flag (age STREAM).
function seal(data, last) {
  nonce.fill(0);
  nonce.writeUIntBE(counter++, 5, 6);
  nonce[11] = last ? 1 : 0;
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  const body = c.update(data);
  c.final();
  push(body);
  push(c.getAuthTag());
}
// A full chunk is sealed only when more data follows, so the last chunk is always sealed as last.
function streamWrite(data) {
  let off = 0;
  while (off < data.length) {
    if (plainUsed === CHUNK) {
      seal(plain, false);
      plainUsed = 0;
    }
    if (plainUsed === 0 && data.length - off > CHUNK) {
      seal(data.subarray(off, off + CHUNK), false);
      off += CHUNK;
      continue;
    }
    const n = Math.min(CHUNK - plainUsed, data.length - off);
    plain.set(data.subarray(off, off + n), plainUsed);
    plainUsed += n;
    off += n;
  }
}
function flushBatch() {
  const bytes = batch.subarray(0, used);
  if (hash) hash.update(bytes);
  streamWrite(bytes);
  used = 0;
}
function append(text) {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so this much room always holds the text.
  if (used + text.length * 3 > BATCH) {
    flushBatch();
    if (text.length * 3 > BATCH) {
      const b = Buffer.from(text, 'utf8');
      if (hash) hash.update(b);
      streamWrite(b);
      b.fill(0);
      return;
    }
  }
  used += batch.write(text, used, 'utf8');
}
function wipe() {
  key.fill(0);
  plain.fill(0);
  batch.fill(0);
  out = [];
}
function block(b) {
  const { codes, ids, convs, senders, texts, times } = b;
  let conv = '';
  let nextConv = 0;
  for (let i = 0; i < texts.length; i++) {
    const c = codes[i];
    if (c === 255) {
      append(texts[i]);
      continue;
    }
    if (c & 128) conv = q(convs[nextConv++]);
    append('{"type":"message","id":' + q(ids[i]) + ',"conversationId":' + conv + ',"direction":' + DIRECTIONS[c & 1] + ',"sender":' + q(senders[i]) + ',"sentAt":' + q(times[2 * i]) + ',"receivedAt":' + q(times[2 * i + 1]) + ',"text":' + q(texts[i]) + ',"state":' + STATES[(c >> 1) & 7] + '}\\n');
  }
}
push(Buffer.from(workerData.prefix));
parentPort.on('message', (m) => {
  if (Atomics.load(stop, 0) !== 0) {
    wipe();
    process.exit(0);
  }
  try {
    if (m.t === 'block') {
      block(m.b);
      parentPort.postMessage({ t: 'ack' });
    } else if (m.t === 'digest') {
      flushBatch();
      const d = hash.digest();
      hash = undefined;
      parentPort.postMessage({ t: 'digest', d });
    } else if (m.t === 'end') {
      flushBatch();
      seal(plain.subarray(0, plainUsed), true);
      flush();
      wipe();
      parentPort.postMessage({ t: 'end', written });
      parentPort.close();
    }
  } catch (err) {
    wipe();
    parentPort.postMessage({ t: 'error', message: String(err && err.message), code: err && err.code, syscall: err && err.syscall });
    parentPort.close();
  }
});
`;

/** Rows per block handed to the worker (one post and one acknowledgement each). */
const BLOCK_ROWS = 2048;
/** A block of pre-encoded lines (attachment chunks) is posted once it holds this many characters. */
const BLOCK_CHARS = 1 << 20;
/** Blocks posted and not yet done by the worker: ~2 MiB of lines at most waiting in memory. */
const MAX_IN_FLIGHT = 4;

const DIRECTIONS: readonly string[] = ['in', 'out'];
const STATES: readonly string[] = ['queued', 'sent', 'delivered', 'read', 'received', 'failed'];
const DIRECTION_CODE = new Map(DIRECTIONS.map((d, i) => [d, i]));
const STATE_CODE = new Map(STATES.map((s, i) => [s, i << 1]));
const LINES = 255;
const NEW_CONVERSATION = 128;

/**
 * One row per line, in file order. A message's direction and state travel as a code and its
 * conversation id once per run of rows, so a block is mostly the strings that vary (the copy
 * into the worker is part of the main thread's cost).
 */
interface Block {
  /** LINES: pre-encoded lines in `texts`; else direction (bit 0), state (bits 1-3), NEW_CONVERSATION when the next of `convs` starts here. */
  codes: Uint8Array<ArrayBuffer>;
  ids: string[];
  convs: string[];
  senders: string[];
  texts: string[];
  /** sentAt, receivedAt per row. */
  times: Float64Array<ArrayBuffer>;
}

type Reply = { t: 'ack' } | { t: 'digest'; d: Uint8Array } | { t: 'end'; written: number } | { t: 'error'; message: string; code?: string; syscall?: string };

function emptyBlock(): Block {
  return { codes: new Uint8Array(BLOCK_ROWS), ids: [], convs: [], senders: [], texts: [], times: new Float64Array(BLOCK_ROWS * 2) };
}

/** The worker's error as thrown here: a file-system error keeps its code and syscall (export maps it to BackupIoError). */
function replyError(r: { message: string; code?: string; syscall?: string }): Error {
  const err = new Error(r.message) as NodeJS.ErrnoException;
  if (typeof r.code === 'string' && typeof r.syscall === 'string') {
    err.code = r.code;
    err.syscall = r.syscall;
    return err;
  }
  return new BackupError('IO', `Export failed: ${r.message}`);
}

export class WorkerLineSink implements LineSink {
  readonly #worker: Worker;
  readonly #stop = new Int32Array(new SharedArrayBuffer(4));
  readonly #exited: Promise<void>;
  #block = emptyBlock();
  #rows = 0;
  #chars = 0;
  /** The conversation of the block's last message row ('' at a block's start). */
  #conv = '';
  #inFlight = 0;
  #failure: Error | undefined;
  #exit = false;
  /** Whoever waits for room, a digest or the end. */
  #waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;
  /** Replies that came while nobody waited (none is lost between two waits). */
  readonly #replies: Reply[] = [];

  /** Starts the worker writing `header`'s payload to `fd` (it zeroes the header's file key). */
  constructor(fd: number, header: AgeHeader) {
    const { prefix, key } = beginPayload(header);
    const keyBuffer = new ArrayBuffer(key.length);
    new Uint8Array(keyBuffer).set(key);
    key.fill(0);
    // The header and payload nonce are the worker's first bytes.
    const quoted = (values: readonly string[]): string[] => values.map((v) => JSON.stringify(v));
    try {
      this.#worker = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: [],
        workerData: { fd, key: keyBuffer, stop: this.#stop.buffer, prefix: Buffer.concat(prefix), directions: quoted(DIRECTIONS), states: quoted(STATES) },
        transferList: [keyBuffer],
      });
    } catch (e) {
      // Not transferred: the key copy is still ours to wipe.
      if (keyBuffer.byteLength > 0) new Uint8Array(keyBuffer).fill(0);
      throw e;
    }
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('message', (r: Reply) => {
      if (r.t === 'ack') this.#inFlight--;
      if (r.t === 'error') this.#fail(replyError(r));
      else this.#wake(r);
    });
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.once('exit', () => {
      this.#exit = true;
      this.#fail(new BackupError('IO', 'Export failed: the export worker stopped'));
    });
  }

  text(lines: string): void {
    this.#check();
    const i = this.#rows;
    this.#block.codes[i] = LINES;
    this.#block.ids.push('');
    this.#block.senders.push('');
    this.#block.texts.push(lines);
    this.#chars += lines.length;
    this.#rows = i + 1;
    if (this.#rows === BLOCK_ROWS || this.#chars >= BLOCK_CHARS) this.#post();
  }

  /** False (nothing taken) for a message whose direction or state has no code: the caller encodes it. */
  message(m: StoredMessage): boolean {
    this.#check();
    const dir = DIRECTION_CODE.get(m.direction);
    const state = STATE_CODE.get(m.state);
    if (dir === undefined || state === undefined) return false;
    const b = this.#block;
    const i = this.#rows;
    let code = dir | state;
    if (m.conversationId !== this.#conv) {
      code |= NEW_CONVERSATION;
      b.convs.push(m.conversationId);
      this.#conv = m.conversationId;
    }
    b.codes[i] = code;
    b.ids.push(m.id);
    b.senders.push(m.sender);
    b.texts.push(m.text);
    b.times[2 * i] = m.sentAt;
    b.times[2 * i + 1] = m.receivedAt;
    this.#chars += m.text.length;
    this.#rows = i + 1;
    if (this.#rows === BLOCK_ROWS || this.#chars >= BLOCK_CHARS) this.#post();
    return true;
  }

  async room(): Promise<void> {
    while (this.#inFlight > MAX_IN_FLIGHT) await this.#next();
    this.#check();
  }

  async digest(): Promise<Uint8Array> {
    this.#post();
    this.#worker.postMessage({ t: 'digest' });
    for (;;) {
      const r = await this.#next();
      if (r.t === 'digest') return new Uint8Array(r.d);
    }
  }

  async end(): Promise<number> {
    this.#post();
    this.#worker.postMessage({ t: 'end' });
    for (;;) {
      const r = await this.#next();
      if (r.t === 'end') {
        await this.#exited;
        return r.written;
      }
    }
  }

  async dispose(): Promise<void> {
    if (!this.#exit) {
      // Blocks still queued are skipped: the worker sees the flag at its next message.
      Atomics.store(this.#stop, 0, 1);
      this.#worker.postMessage({ t: 'abort' });
    }
    await this.#exited;
    this.#block = emptyBlock();
  }

  #post(): void {
    this.#check();
    if (this.#rows === 0) return;
    const b = this.#block;
    if (this.#rows < BLOCK_ROWS) {
      b.codes = b.codes.slice(0, this.#rows);
      b.times = b.times.slice(0, 2 * this.#rows);
    }
    this.#worker.postMessage({ t: 'block', b }, [b.codes.buffer, b.times.buffer]);
    this.#inFlight++;
    this.#block = emptyBlock();
    this.#rows = 0;
    this.#chars = 0;
    this.#conv = '';
  }

  #next(): Promise<Reply> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    this.#check();
    return new Promise((resolve, reject) => (this.#waiting = { resolve, reject }));
  }

  #wake(r: Reply): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    if (w) w.resolve(r);
    else this.#replies.push(r);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.reject(this.#failure);
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
  }
}
