// The relay "floor" for bench/relay (issue 18): a minimal relay that does exactly the work any
// relay with Ephemera's promises must do per message, and nothing else, so Ephemera's relay is
// measured against the same required work instead of a plain `ws` relay that does none of it:
// - the relay's TLS settings (same ciphers, curves, no tickets, self-signed certificate);
// - one AEAD (XChaCha20-Poly1305, shared/protocol/record.ts) seal and one open per record, each
//   way: send -> stored reply, push -> ack;
// - a durable SQLite insert per message (same pragmas as relay/store.ts: WAL, synchronous
//   NORMAL, secure_delete) and a delete on ack, with the same group commit (one transaction per
//   event-loop turn, at most one commit per 8 ms when busy) and the same durability: answers
//   and pushes released after the commit and an fsync of the -wal begun after it (on the thread
//   pool, one at a time, the commits made meanwhile sharing the next), so a power cut keeps
//   every answered message. Acks wait for no fsync (a lost delete only re-delivers), as at the relay.
// Left out, because they are Ephemera's and not the floor's: temp-key handshakes and binds (done
// before the measurement anyway), replay windows, idempotency records, queue limits, handles,
// rate limits, batching several envelopes into one record. The key of each connection is sent
// in its first frame inside TLS: a bench shortcut for the handshake, which is not measured.
//
// Server: a child process (`EPHEMERA_BENCH_ROLE=floor-relay`, data directory in
// EPHEMERA_BENCH_FLOOR_DIR) that prints {"event":"listening","port":N}. Clients: floorEndpoints().
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { WebSocket, WebSocketServer } from 'ws';
import { RELAY_TLS_OPTIONS } from '../relay/relay.ts';
import { loadOrCreateRelayFiles } from '../relay/identity.ts';
import { decodeFrame, MAX_FRAME_BYTES, TEMP_KEY_ID_BYTES } from '../shared/protocol/frames.ts';
import { DIRECTION_C2S, DIRECTION_S2C, openRecord, sealRecord } from '../shared/protocol/record.ts';
import { startPortChild, type PortChild } from './report.ts';

/** As relay/relay.ts COMMIT_INTERVAL_MS: when busy, one commit per this interval. */
const COMMIT_INTERVAL_MS = 8;
const SESSION = Buffer.alloc(8);
const OP_SEND = 1;
const OP_ACK = 2;
const OP_STORED = 0x81;
const OP_PUSH = 0x82;
/** First frame of a connection: client id (u32) || key (32) || temp key id (8). */
const HELLO_BYTES = 4 + 32 + TEMP_KEY_ID_BYTES;

interface FloorConn {
  ws: WebSocket;
  socket: Socket;
  id: Buffer;
  key: Buffer;
  tempKeyId: Buffer;
  msgId: bigint;
}

function sealTo(c: FloorConn, body: Buffer): Buffer {
  c.msgId += 1n;
  return sealRecord(c.key, c.tempKeyId, DIRECTION_S2C, { msgId: c.msgId, seq: 0, sessionId: SESSION, body });
}

function runFloorRelay(dataDir: string): void {
  const files = loadOrCreateRelayFiles(dataDir, '127.0.0.1');
  const db = new Database(join(dataDir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('secure_delete = ON');
  db.pragma('wal_autocheckpoint = 8000');
  db.exec(`CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, recipient BLOB NOT NULL, sender BLOB NOT NULL, body BLOB NOT NULL, created_at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS queue_by_recipient ON queue (recipient, id);`);
  const insert = db.prepare('INSERT INTO queue (recipient, sender, body, created_at) VALUES (?, ?, ?, ?)');
  const del = db.prepare('DELETE FROM queue WHERE id = ? AND recipient = ?');
  const conns = new Map<number, FloorConn>();

  // Group commit, as the relay does it: answers and pushes wait for the commit of their turn and
  // for an fsync of the -wal begun after it (relay/outgoing.ts).
  type Out = { to: FloorConn; body: Buffer }[];
  let held: Out | undefined;
  let heldWrites = false;
  let lastCommitAt = 0;
  const wal = open(join(dataDir, 'floor.db-wal'), 'r');
  const waiting: { out: Out; commit: number }[] = [];
  let commits = 0;
  let synced = 0;
  let syncing = false;
  const syncNext = (): void => {
    if (syncing || synced === commits) return;
    syncing = true;
    const upTo = commits;
    void wal.then((h) => h.sync()).then(() => {
      syncing = false;
      synced = upTo;
      while (waiting[0] && waiting[0].commit <= upTo) release((waiting.shift() as { out: Out }).out);
      syncNext();
    });
  };
  const commit = (): void => {
    const out = held ?? [];
    held = undefined;
    lastCommitAt = performance.now();
    db.exec('COMMIT');
    if (heldWrites) commits++;
    if (waiting.length === 0 && synced === commits) release(out);
    else {
      waiting.push({ out, commit: commits });
      syncNext();
    }
  };
  const release = (out: Out): void => {
    const corked = new Set<Socket>();
    for (const { to, body } of out) {
      if (to.ws.readyState !== WebSocket.OPEN) continue;
      if (!corked.has(to.socket)) {
        to.socket.cork();
        corked.add(to.socket);
      }
      to.ws.send(sealTo(to, body));
    }
    for (const s of corked) s.uncork();
  };
  /** The turn's batch; `durable`: a write its answer must not precede the fsync of (a send, not an ack). */
  const batch = (durable: boolean): Out => {
    if (!held) {
      held = [];
      heldWrites = false;
      db.exec('BEGIN');
      const wait = lastCommitAt + COMMIT_INTERVAL_MS - performance.now();
      if (wait > 0) setTimeout(commit, wait);
      else setImmediate(commit);
    }
    heldWrites ||= durable;
    return held;
  };

  const server = createServer({
    key: files.tlsKey,
    cert: files.tlsCert,
    ...RELAY_TLS_OPTIONS,
  });
  const wss = new WebSocketServer({ server, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  wss.on('connection', (ws, req) => {
    let conn: FloorConn | undefined;
    ws.on('message', (data: Buffer) => {
      if (!conn) {
        if (data.length !== HELLO_BYTES) return ws.terminate();
        conn = { ws, socket: req.socket, id: Buffer.from(data.subarray(0, 4)), key: Buffer.from(data.subarray(4, 36)), tempKeyId: Buffer.from(data.subarray(36)), msgId: 0n };
        conns.set(conn.id.readUInt32BE(0), conn);
        return;
      }
      const frame = decodeFrame(data);
      if (frame.type !== 'record') return;
      const payload = openRecord(conn.key, frame, DIRECTION_C2S);
      if (!payload) return ws.terminate();
      const body = payload.body;
      if (body[0] === OP_SEND) {
        const to = conns.get(body.readUInt32BE(1));
        const reqId = body.readUInt32BE(5);
        const data = body.subarray(9);
        const out = batch(true);
        const id = Number(insert.run(to?.id ?? Buffer.alloc(4), conn.id, data, Date.now()).lastInsertRowid);
        const stored = Buffer.alloc(5);
        stored[0] = OP_STORED;
        stored.writeUInt32BE(reqId, 1);
        out.push({ to: conn, body: stored });
        if (to) {
          const push = Buffer.allocUnsafe(9 + data.length);
          push[0] = OP_PUSH;
          push.writeUInt32BE(id, 1);
          conn.id.copy(push, 5);
          data.copy(push, 9);
          out.push({ to, body: push });
        }
      } else if (body[0] === OP_ACK) {
        batch(false);
        del.run(body.readUInt32BE(1), conn.id);
      }
    });
    ws.on('close', () => {
      if (conn && conns.get(conn.id.readUInt32BE(0)) === conn) conns.delete(conn.id.readUInt32BE(0));
    });
    ws.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ event: 'listening', port: typeof a === 'object' && a ? a.port : 0 })}\n`);
  });
}

if (process.env.EPHEMERA_BENCH_ROLE === 'floor-relay') runFloorRelay(process.env.EPHEMERA_BENCH_FLOOR_DIR ?? '');

/** Starts the floor relay as a child process with its data in `dataDir`. */
export function startFloorRelay(dataDir: string): Promise<PortChild> {
  return startPortChild(fileURLToPath(import.meta.url), { EPHEMERA_BENCH_ROLE: 'floor-relay', EPHEMERA_BENCH_FLOOR_DIR: dataDir }, 'floor relay');
}

export interface FloorEndpoint {
  send(to: number, payload: Buffer): void;
  onReceive(handler: (payload: Buffer) => void): void;
}

/**
 * n clients of the floor relay, each sealing its sends and acks and opening what it gets (one
 * AEAD operation per record, as an Ephemera client does), and acknowledging each push.
 */
export async function floorEndpoints(port: number, n: number): Promise<{ endpoints: FloorEndpoint[]; close: () => void }> {
  const sockets: WebSocket[] = [];
  const endpoints: FloorEndpoint[] = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(`wss://127.0.0.1:${port}`, { perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const key = randomBytes(32);
    const tempKeyId = randomBytes(TEMP_KEY_ID_BYTES);
    const hello = Buffer.alloc(HELLO_BYTES);
    hello.writeUInt32BE(i, 0);
    key.copy(hello, 4);
    tempKeyId.copy(hello, 36);
    ws.send(hello);
    let msgId = 0n;
    let reqId = 0;
    const seal = (body: Buffer): Buffer => {
      msgId += 1n;
      return sealRecord(key, tempKeyId, DIRECTION_C2S, { msgId, seq: 0, sessionId: SESSION, body });
    };
    let handler: (p: Buffer) => void = () => undefined;
    ws.on('message', (d: Buffer) => {
      const frame = decodeFrame(d);
      if (frame.type !== 'record') return;
      const p = openRecord(key, frame, DIRECTION_S2C);
      if (!p || p.body[0] !== OP_PUSH) return; // a stored reply needs nothing more here
      const ack = Buffer.alloc(5);
      ack[0] = OP_ACK;
      ack.writeUInt32BE(p.body.readUInt32BE(1), 1);
      ws.send(seal(ack));
      handler(p.body.subarray(9));
    });
    sockets.push(ws);
    endpoints.push({
      send: (to, payload) => {
        const b = Buffer.allocUnsafe(9 + payload.length);
        b[0] = OP_SEND;
        b.writeUInt32BE(to, 1);
        b.writeUInt32BE((reqId = (reqId + 1) >>> 0), 5);
        payload.copy(b, 9);
        ws.send(seal(b));
      },
      onReceive: (h) => {
        handler = h;
      },
    });
  }
  await new Promise((r) => setTimeout(r, 200));
  return { endpoints, close: () => sockets.forEach((s) => s.terminate()) };
}
