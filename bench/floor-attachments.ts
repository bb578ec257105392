// The attachment pipeline "floor" for bench/attachments (issue #15): the work any design that
// keeps Ephemera's promises must do to move one file from a sender through a relay to a
// receiver, done the cheapest way, in three processes on loopback as the real transfer runs:
// - sender: reads the file, seals it with the per-file STREAM AEAD (shared/protocol/stream.ts,
//   native chacha20-poly1305, Padmé padding), hashes the sealed stream (the digest the E2E
//   message carries), seals each sealed chunk in one record AEAD under the transport key
//   (XChaCha20-Poly1305, shared/protocol/aead.ts, fresh nonce, AD = temp key id || direction)
//   and writes it to TLS with the relay's settings;
// - relay: TLS, record open, the chunk written at its offset in the blob's file and its length
//   committed in SQLite as relay/blobs.ts does (WAL, synchronous NORMAL, one commit per
//   COMMIT_AT_BYTES of writes, relay/outgoing.ts; the file is not fsynced, as there), the
//   answer after the last commit; on download: the file read back, a record seal per chunk, TLS;
// - receiver: TLS, record open, the digest of the sealed stream checked, STREAM open (padding
//   checked), and, with `store`, the plaintext kept as the messenger keeps it
//   (main/messenger/attachments.ts downloadOnce: a sealed vault kv row per 64 KiB chunk,
//   CHUNKS_PER_TRANSACTION per durable transaction, the plaintext zeroed after).
// Left out, as no design needs them: WebSocket framing (the frames here are u32 length ||
// record), a request and an answer per chunk (the sender streams, the relay answers once; the
// receiver asks once), RPC encoding, replay windows, quotas, recipients. The transport keys are
// handed to the processes by the parent: a bench shortcut for the handshake, not measured.
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type TLSSocket } from 'node:tls';
import Database from 'better-sqlite3';
import { RELAY_TLS_OPTIONS } from '../relay/relay.ts';
import { COMMIT_AT_BYTES } from '../relay/outgoing.ts';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../shared/private-files.ts';
import { NONCE_BYTES, TAG_BYTES, open, sealInto } from '../shared/protocol/aead.ts';
import { DIRECTION_C2S, DIRECTION_S2C, freshNonce, recordAd } from '../shared/protocol/record.ts';
import { openChunk, sealChunkInto, sealedChunkLength, streamLayout, STREAM_CHUNK_BYTES, STREAM_SEALED_CHUNK_BYTES } from '../shared/protocol/stream.ts';
import { TEST_KDF, Vault } from '../main/vault/index.ts';
import { ATTACHMENT_CHUNKS, CHUNKS_PER_TRANSACTION, chunkKey } from '../main/messenger/attachment-store.ts';

const ROLE_ENV = 'EPHEMERA_BENCH_ROLE';
const LENGTH_BYTES = 4;
const KIND_UPLOAD = 0x55;
const KIND_DOWNLOAD = 0x44;
/** The untimed first transfer (attachmentPipelineFloor). */
const WARM_UP_BYTES = 16 * 1024 * 1024;

/** What the parent hands every process: the keys a handshake and the E2E message would give. */
interface Keys {
  tempKeyId: string;
  c2s: string;
  s2c: string;
}

type ToChild =
  | { op: 'upload'; port: number; file: string; size: number; streamKey: string; keys: Keys }
  | { op: 'download'; port: number; size: number; streamKey: string; digest: string; keys: Keys; vaultDir: string; store: boolean }
  | { op: 'cpu' };
type FromChild = { op: 'listening'; port: number } | { op: 'done'; cpuSeconds: number; digest?: string } | { op: 'cpu'; cpuSeconds: number } | { op: 'error'; message: string };

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const cpuNow = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

/** Whole length-prefixed frames out of a TLS stream (one copy per frame that spans reads). */
function onFrames(socket: TLSSocket, handle: (frame: Buffer) => void): void {
  let parts: Buffer[] = [];
  let have = 0;
  socket.on('data', (d: Buffer) => {
    parts.push(d);
    have += d.length;
    while (have >= LENGTH_BYTES) {
      let all = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, have);
      parts = [all];
      const length = all.readUInt32BE(0);
      if (have < LENGTH_BYTES + length) break;
      const frame = all.subarray(LENGTH_BYTES, LENGTH_BYTES + length);
      all = all.subarray(LENGTH_BYTES + length);
      parts = all.length > 0 ? [all] : [];
      have = all.length;
      handle(frame);
    }
  });
}

/** One record: u32 length || nonce || AEAD(key, nonce, body, ad), in one fresh buffer. */
function recordFrame(key: Uint8Array, ad: Uint8Array, body: Uint8Array): Buffer {
  const length = NONCE_BYTES + body.length + TAG_BYTES;
  const out = Buffer.allocUnsafe(LENGTH_BYTES + length);
  out.writeUInt32BE(length, 0);
  const nonce = freshNonce();
  out.set(nonce, LENGTH_BYTES);
  return sealInto(key, nonce, body, ad, out, LENGTH_BYTES + NONCE_BYTES);
}

function openFrame(key: Uint8Array, ad: Uint8Array, frame: Buffer): Buffer {
  const body = open(key, frame.subarray(0, NONCE_BYTES), frame.subarray(NONCE_BYTES), ad);
  if (!body) throw new Error('record does not open');
  return body;
}

async function writeFrame(socket: TLSSocket, frame: Buffer): Promise<void> {
  if (!socket.write(frame)) await new Promise((resolve) => socket.once('drain', resolve));
}

function header(kind: number, size: number): Buffer {
  const h = Buffer.alloc(LENGTH_BYTES + 9);
  h.writeUInt32BE(9, 0);
  h[LENGTH_BYTES] = kind;
  h.writeDoubleBE(size, LENGTH_BYTES + 1);
  return h;
}

function connectTo(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // The real client pins the certificate's hash once per connection: not per-byte work.
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
}

/** The minimal relay: one blob at a time, in `dir`. */
function runRelay(dir: string, key: string, cert: string, keys: Keys): void {
  ensurePrivateDir(dir);
  const db = new Database(join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('secure_delete = ON');
  db.exec('CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, length INTEGER NOT NULL)');
  const setLength = db.prepare<[number, number]>('UPDATE blobs SET length = ? WHERE id = ?');
  const [c2s, s2c] = [hex(keys.c2s), hex(keys.s2c)];
  const [adIn, adOut] = [recordAd(hex(keys.tempKeyId), DIRECTION_C2S), recordAd(hex(keys.tempKeyId), DIRECTION_S2C)];
  const file = join(dir, 'blob');
  let blobSize = 0;
  const server = createServer({ ...RELAY_TLS_OPTIONS, key, cert }, (socket) => {
    let kind = 0;
    let fd = -1;
    let length = 0;
    let batchBytes = 0;
    onFrames(socket, (frame) => {
      if (kind === 0) {
        kind = frame[0] as number;
        if (kind === KIND_UPLOAD) {
          blobSize = streamLayout(frame.readDoubleBE(1)).sealedSize;
          db.prepare('DELETE FROM blobs').run();
          db.prepare('INSERT INTO blobs (id, size, length) VALUES (1, ?, 0)').run(blobSize);
          fd = openSync(file, 'w', PRIVATE_FILE_MODE);
        } else void sendBlob(socket);
        return;
      }
      const chunk = openFrame(c2s, adIn, frame);
      if (batchBytes === 0) db.exec('BEGIN');
      let done = 0;
      while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done, length + done);
      length += chunk.length;
      setLength.run(length, 1);
      batchBytes += chunk.length;
      const complete = length === blobSize;
      if (batchBytes >= COMMIT_AT_BYTES || complete) {
        db.exec('COMMIT');
        batchBytes = 0;
      }
      if (complete) {
        closeSync(fd);
        socket.end(recordFrame(s2c, adOut, Buffer.of(1)));
      }
    });
  });
  async function sendBlob(socket: TLSSocket): Promise<void> {
    const fd = openSync(file, 'r');
    const read = Buffer.allocUnsafe(STREAM_SEALED_CHUNK_BYTES);
    for (let at = 0; at < blobSize; ) {
      const want = Math.min(STREAM_SEALED_CHUNK_BYTES, blobSize - at);
      let done = 0;
      while (done < want) done += readSync(fd, read, done, want - done, at + done);
      await writeFrame(socket, recordFrame(s2c, adOut, read.subarray(0, want)));
      at += want;
    }
    closeSync(fd);
    socket.end();
  }
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    send({ op: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
  });
}

function send(m: FromChild): void {
  process.send?.(m);
}

/** Sender: the file read, STREAM-sealed and hashed, each sealed chunk in a record to the relay. */
async function upload(m: Extract<ToChild, { op: 'upload' }>): Promise<void> {
  const cpu0 = cpuNow();
  const layout = streamLayout(m.size);
  const streamKey = hex(m.streamKey);
  const c2s = hex(m.keys.c2s);
  const ad = recordAd(hex(m.keys.tempKeyId), DIRECTION_C2S);
  const socket = await connectTo(m.port);
  // A relay that closes or fails before its answer ends the run with an error, never a hang.
  const answered = new Promise<void>((resolve, reject) => {
    onFrames(socket, (frame) => {
      openFrame(hex(m.keys.s2c), recordAd(hex(m.keys.tempKeyId), DIRECTION_S2C), frame);
      resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('the floor relay closed before its answer')));
  });
  await writeFrame(socket, header(KIND_UPLOAD, m.size));
  const digest = createHash('sha256');
  const fd = openSync(m.file, 'r');
  const plain = Buffer.alloc(STREAM_CHUNK_BYTES);
  const sealed = Buffer.allocUnsafe(STREAM_SEALED_CHUNK_BYTES);
  for (let i = 0, read = 0; i < layout.chunks; i++) {
    const last = i === layout.chunks - 1;
    const plainLength = sealedChunkLength(layout, i) - TAG_BYTES;
    const want = Math.max(0, Math.min(plainLength, m.size - read));
    let got = 0;
    while (got < want) got += readSync(fd, plain, got, want - got, read + got);
    plain.fill(0, want, plainLength);
    read += want;
    const n = sealChunkInto(streamKey, i, last, plain.subarray(0, plainLength), sealed);
    digest.update(sealed.subarray(0, n));
    await writeFrame(socket, recordFrame(c2s, ad, sealed.subarray(0, n)));
  }
  closeSync(fd);
  await answered;
  socket.destroy();
  send({ op: 'done', cpuSeconds: cpuNow() - cpu0, digest: digest.digest('hex') });
}

/** Receiver: records opened, the digest checked, chunks STREAM-opened and (with a vault) stored sealed. */
async function download(m: Extract<ToChild, { op: 'download' }>, vault: Vault | null): Promise<void> {
  const cpu0 = cpuNow();
  const layout = streamLayout(m.size);
  const streamKey = hex(m.streamKey);
  const s2c = hex(m.keys.s2c);
  const ad = recordAd(hex(m.keys.tempKeyId), DIRECTION_S2C);
  const digest = createHash('sha256');
  let index = 0;
  let out = 0;
  let pending: Buffer[] = [];
  const flush = (): void => {
    if (!vault || pending.length === 0) return;
    const first = index - pending.length;
    const batch = pending;
    pending = [];
    vault.transaction(() => batch.forEach((c, j) => vault.kvSet(ATTACHMENT_CHUNKS, chunkKey('floor', first + j), c)));
    for (const c of batch) c.fill(0);
  };
  const socket = await connectTo(m.port);
  await new Promise<void>((resolve, reject) => {
    onFrames(socket, (frame) => {
      try {
        const sealed = openFrame(s2c, ad, frame);
        if (sealed.length !== sealedChunkLength(layout, index)) throw new Error(`chunk ${index} has the wrong length`);
        digest.update(sealed);
        const plain = openChunk(streamKey, index, index === layout.chunks - 1, sealed);
        if (!plain) throw new Error(`chunk ${index} does not open`);
        const keep = Math.max(0, Math.min(plain.length, m.size - out));
        for (let i = keep; i < plain.length; i++) if (plain[i] !== 0) throw new Error('padding is not zeros');
        out += keep;
        index++;
        if (vault) {
          pending.push(plain.subarray(0, keep));
          if (pending.length >= CHUNKS_PER_TRANSACTION) flush();
        } else plain.fill(0);
        if (index === layout.chunks) {
          flush();
          if (!digest.digest().equals(hex(m.digest))) throw new Error('digest does not match');
          resolve();
        }
      } catch (e) {
        reject(e as Error);
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`the floor relay closed after ${index} of ${layout.chunks} chunks`)));
    socket.write(header(KIND_DOWNLOAD, m.size));
  });
  socket.destroy();
  send({ op: 'done', cpuSeconds: cpuNow() - cpu0 });
}

function runChild(role: string): void {
  const fail = (e: unknown): void => {
    send({ op: 'error', message: e instanceof Error ? e.message : String(e) });
  };
  if (role === 'floor-attachments-relay') {
    const init = JSON.parse(process.env.EPHEMERA_BENCH_FLOOR_INIT ?? '{}') as { dir: string; key: string; cert: string; keys: Keys };
    runRelay(init.dir, init.key, init.cert, init.keys);
  }
  let vault: Vault | null = null;
  process.on('message', (m: ToChild) => {
    if (m.op === 'cpu') send({ op: 'cpu', cpuSeconds: cpuNow() });
    else if (m.op === 'upload') upload(m).catch(fail);
    else if (m.op === 'download') {
      // The receiver's vault (an unlocked profile) is made at its first download, the untimed warm-up.
      const prepare = vault ? Promise.resolve(vault) : Vault.create(m.vaultDir, 'bench password 1234', { kdf: TEST_KDF }).then((r) => (vault = r.vault));
      prepare.then((v) => download(m, m.store ? v : null)).catch(fail);
    }
  });
}

const role = process.env[ROLE_ENV];
if (role?.startsWith('floor-attachments-')) runChild(role);

function startChild(role: string, env: Record<string, string> = {}): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env, [ROLE_ENV]: role }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function ask(child: ChildProcess, m: ToChild | null, want: FromChild['op']): Promise<FromChild> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`floor process exited (${code})`));
    const onMessage = (r: FromChild): void => {
      if (r.op === 'error') reject(new Error(`floor process: ${r.message}`));
      else if (r.op === want) resolve(r);
      else return;
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (m) child.send(m);
  });
}

export interface PipelineFloor {
  /** Seconds from the upload's start to the download's end (digest checked, chunks stored). */
  seconds: number;
  /** CPU seconds of each process over its part. */
  senderCpu: number;
  relayCpu: number;
  receiverCpu: number;
}

/**
 * Moves `file` (`size` bytes) sender -> relay -> receiver through the floor, once per entry of
 * `storeAtReceiver` (the receiver keeps the chunks in a vault, or only checks them), all in one
 * set of processes started before any timing.
 */
export async function attachmentPipelineFloor(o: { dir: string; key: string; cert: string; file: string; size: number; storeAtReceiver: readonly boolean[] }): Promise<PipelineFloor[]> {
  const keys: Keys = { tempKeyId: randomBytes(8).toString('hex'), c2s: randomBytes(32).toString('hex'), s2c: randomBytes(32).toString('hex') };
  const relay = startChild('floor-attachments-relay', { EPHEMERA_BENCH_FLOOR_INIT: JSON.stringify({ dir: join(o.dir, 'floor-relay'), key: o.key, cert: o.cert, keys }) });
  const sender = startChild('floor-attachments-sender');
  const receiver = startChild('floor-attachments-receiver');
  const children = [relay, sender, receiver];
  try {
    const listening = await ask(relay, null, 'listening');
    const port = listening.op === 'listening' ? listening.port : 0;
    const cpuOf = async (c: ChildProcess): Promise<number> => {
      const r = await ask(c, { op: 'cpu' }, 'cpu');
      return r.op === 'cpu' ? r.cpuSeconds : Number.NaN;
    };
    // A warm-up transfer through the same processes, not counted: the receiver makes its vault,
    // and the code gets compiled. With one chunk as warm-up, the first timed 32 MiB run took
    // 2-3x the CPU per MiB of the next ones in each process (load 25).
    const results: PipelineFloor[] = [];
    for (const [run, store] of [[-1, true] as const, ...o.storeAtReceiver.map((s, i) => [i, s] as const)]) {
      const size = run < 0 ? Math.min(o.size, WARM_UP_BYTES) : o.size;
      const streamKey = randomBytes(32).toString('hex');
      const relayCpu0 = await cpuOf(relay);
      const t0 = performance.now();
      const up = await ask(sender, { op: 'upload', port, file: o.file, size, streamKey, keys }, 'done');
      const digest = up.op === 'done' ? up.digest ?? '' : '';
      const down = await ask(receiver, { op: 'download', port, size, streamKey, digest, keys, vaultDir: join(o.dir, 'floor-vault'), store }, 'done');
      const seconds = (performance.now() - t0) / 1000;
      const relayCpu = (await cpuOf(relay)) - relayCpu0;
      if (run >= 0) results.push({ seconds, senderCpu: up.op === 'done' ? up.cpuSeconds : Number.NaN, relayCpu, receiverCpu: down.op === 'done' ? down.cpuSeconds : Number.NaN });
    }
    return results;
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}
