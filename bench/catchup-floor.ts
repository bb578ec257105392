// The catch-up's floor of required work (issue 18: "where a goal cannot be reached, the note says
// what bounds it, measured in the same run"): the same queue as bench/catchup (S contacts x M
// PreKey messages, interleaved), received by the least code that still does what receiving
// must do, and nothing else:
//   - libsignal's decrypt, its session state in a real SQLite file, sealed: a contact's session
//     record (and a new identity, the used one-time and Kyber prekeys) written once per batch;
//     the recipient's keys read from sealed rows on first use;
//   - one sealed message row per message (XChaCha20-Poly1305 of the vault, AD bound to the row,
//     with the ordering index paging needs), all of a batch in one relaxed commit (WAL,
//     synchronous NORMAL), then one fsync of the WAL per acknowledged batch (the app's ACK_BATCH),
//     on libuv's pool while the next batch decrypts (one in flight, as the app's mailbox);
//   - the search index insert: main/search's FTS5 index on :memory:, its own upsert;
//   - the acknowledgement: one frame of the batch's envelope ids over a loopback socket, after
//     the fsync, read by the other end.
// Left out, as not required for a message to be received: events to a window, receipts, the
// counters, the search index's mirror, the relay connection's own framing and crypto.
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Direction,
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyRecord,
  PreKeySignalMessage,
  PreKeyStore,
  PrivateKey,
  ProtocolAddress,
  PublicKey,
  SessionRecord,
  SessionStore,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  signalDecryptPreKey,
} from '@signalapp/libsignal-client';
import Database from 'better-sqlite3';
import { ab } from '../main/e2e/libsignal.ts';
import { SearchIndex } from '../main/search/index-db.ts';
import { BatchOpener, BatchSealer } from '../main/vault/aead.ts';
import { ad } from '../main/vault/records.ts';
import { emit } from './report.ts';
import { preKeyQueue } from './signal-floor.ts';

/** Envelopes per commit, fsync and acknowledgement: the mailbox's ACK_BATCH (main/net/mailbox.ts). */
const BATCH = 64;

/** Sealed kv rows (sessions, identities, prekeys) on the floor's own SQLite file. */
class SealedKv {
  readonly #get;
  readonly #put;
  readonly #del;
  constructor(
    db: Database.Database,
    private readonly key: Buffer,
  ) {
    this.#get = db.prepare<[string, string], { v: Buffer }>('SELECT v FROM kv WHERE ns = ? AND k = ?');
    this.#put = db.prepare<[string, string, Buffer]>('INSERT OR REPLACE INTO kv (ns, k, v) VALUES (?, ?, ?)');
    this.#del = db.prepare<[string, string]>('DELETE FROM kv WHERE ns = ? AND k = ?');
  }
  get(ns: string, k: string): Buffer | undefined {
    const row = this.#get.get(ns, k);
    if (!row) return undefined;
    const opener = new BatchOpener(this.key);
    try {
      return opener.open(row.v, ad('kv', ns, k));
    } finally {
      opener.dispose();
    }
  }
  put(sealer: BatchSealer, ns: string, k: string, value: Uint8Array): void {
    this.#put.run(ns, k, sealer.seal(value, ad('kv', ns, k)));
  }
  delete(ns: string, k: string): void {
    this.#del.run(ns, k);
  }
}

/** libsignal's stores on SealedKv: reads on first use, writes held until the batch commits. */
class FloorStores {
  readonly sessions = new Map<string, SessionRecord>();
  readonly dirtySessions = new Set<string>();
  readonly identities = new Map<string, PublicKey>();
  readonly newIdentities = new Set<string>();
  readonly usedPreKeys: number[] = [];
  readonly usedKyber: number[] = [];
  constructor(
    readonly kv: SealedKv,
    readonly self: IdentityKeyPair,
  ) {}

  /** Writes what the batch changed, in the caller's transaction. */
  persist(sealer: BatchSealer): void {
    for (const a of this.dirtySessions) this.kv.put(sealer, 'session', a, (this.sessions.get(a) as SessionRecord).serialize());
    for (const a of this.newIdentities) this.kv.put(sealer, 'identity', a, (this.identities.get(a) as PublicKey).serialize());
    for (const id of this.usedPreKeys) this.kv.delete('prekey', String(id));
    for (const id of this.usedKyber) this.kv.delete('kyber', String(id));
    this.dirtySessions.clear();
    this.newIdentities.clear();
    this.usedPreKeys.length = 0;
    this.usedKyber.length = 0;
  }
}

class Sessions extends SessionStore {
  constructor(private readonly s: FloorStores) {
    super();
  }
  override async saveSession(a: ProtocolAddress, r: SessionRecord): Promise<void> {
    this.s.sessions.set(a.toString(), r);
    this.s.dirtySessions.add(a.toString());
  }
  override async getSession(a: ProtocolAddress): Promise<SessionRecord | null> {
    const name = a.toString();
    const cached = this.s.sessions.get(name);
    if (cached) return cached;
    const sealed = this.s.kv.get('session', name);
    if (!sealed) return null;
    const r = SessionRecord.deserialize(ab(sealed));
    sealed.fill(0);
    this.s.sessions.set(name, r);
    return r;
  }
  override async getExistingSessions(as: ProtocolAddress[]): Promise<SessionRecord[]> {
    return Promise.all(
      as.map(async (a) => {
        const r = await this.getSession(a);
        if (!r) throw new Error('no session');
        return r;
      }),
    );
  }
}

class Identities extends IdentityKeyStore {
  constructor(private readonly s: FloorStores) {
    super();
  }
  override async getIdentityKey(): Promise<PrivateKey> {
    return this.s.self.privateKey;
  }
  override async getIdentityKeyPair(): Promise<IdentityKeyPair> {
    return this.s.self;
  }
  override async getLocalRegistrationId(): Promise<number> {
    return 1;
  }
  override async saveIdentity(a: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const known = await this.getIdentity(a);
    if (known?.equals(key)) return IdentityChange.NewOrUnchanged;
    this.s.identities.set(a.toString(), key);
    this.s.newIdentities.add(a.toString());
    return known ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
  }
  override async isTrustedIdentity(a: ProtocolAddress, key: PublicKey, _d: Direction): Promise<boolean> {
    const known = await this.getIdentity(a);
    return !known || known.equals(key);
  }
  override async getIdentity(a: ProtocolAddress): Promise<PublicKey | null> {
    const name = a.toString();
    const cached = this.s.identities.get(name);
    if (cached) return cached;
    const sealed = this.s.kv.get('identity', name);
    if (!sealed) return null;
    const key = PublicKey.deserialize(ab(sealed));
    this.s.identities.set(name, key);
    return key;
  }
}

class PreKeys extends PreKeyStore {
  constructor(private readonly s: FloorStores) {
    super();
  }
  override async savePreKey(): Promise<void> {
    throw new Error('not on the receive path');
  }
  override async getPreKey(id: number): Promise<PreKeyRecord> {
    const sealed = this.s.kv.get('prekey', String(id));
    if (!sealed) throw new Error('no prekey');
    try {
      return PreKeyRecord.deserialize(ab(sealed));
    } finally {
      sealed.fill(0);
    }
  }
  override async removePreKey(id: number): Promise<void> {
    this.s.usedPreKeys.push(id);
  }
}

class SignedPreKeys extends SignedPreKeyStore {
  #cached: SignedPreKeyRecord | undefined;
  constructor(private readonly s: FloorStores) {
    super();
  }
  override async saveSignedPreKey(): Promise<void> {
    throw new Error('not on the receive path');
  }
  override async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    if (this.#cached) return this.#cached;
    const sealed = this.s.kv.get('signed', String(id));
    if (!sealed) throw new Error('no signed prekey');
    this.#cached = SignedPreKeyRecord.deserialize(ab(sealed));
    sealed.fill(0);
    return this.#cached;
  }
}

class KyberPreKeys extends KyberPreKeyStore {
  constructor(private readonly s: FloorStores) {
    super();
  }
  override async saveKyberPreKey(): Promise<void> {
    throw new Error('not on the receive path');
  }
  override async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    const sealed = this.s.kv.get('kyber', String(id));
    if (!sealed) throw new Error('no kyber prekey');
    try {
      return KyberPreKeyRecord.deserialize(ab(sealed));
    } finally {
      sealed.fill(0);
    }
  }
  override async markKyberPreKeyUsed(id: number): Promise<void> {
    this.s.usedKyber.push(id);
  }
}

/** The acknowledgements' other end: counts the ids it reads. */
async function ackSink(expected: number): Promise<{ socket: Socket; done: Promise<void>; close: () => void }> {
  let received = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const server = createServer((s) => {
    s.on('data', (d: Buffer) => {
      received += d.length / 16;
      if (received >= expected) resolveDone();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  return { socket, done, close: () => (socket.destroy(), server.close()) };
}

export interface RequiredFloor {
  messagesPerSecond: number;
  usPerMessage: number;
  cpuUsPerMessage: number;
}

/** Receives the queue with the required work only (see the file comment) in `dir`; timed from the first decrypt to the last acknowledgement read. */
export async function requiredWorkFloor(dir: string, senders: number, perSender: number, text: (s: number, i: number) => string): Promise<RequiredFloor> {
  const { keys, queued } = await preKeyQueue(senders, perSender, text);
  const db = new Database(join(dir, 'catchup-floor.db'));
  const dataKey = randomBytes(32);
  const index = SearchIndex.create();
  const acks = await ackSink(queued.length);
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('secure_delete = ON');
    db.pragma('synchronous = NORMAL'); // relaxed commits; durability from the fsync per batch below
    db.exec(`CREATE TABLE kv (ns TEXT NOT NULL, k TEXT NOT NULL, v BLOB NOT NULL, PRIMARY KEY (ns, k)) WITHOUT ROWID;
      CREATE TABLE messages (id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, order_key INTEGER NOT NULL, sealed BLOB NOT NULL);
      CREATE INDEX messages_order ON messages (conversation_id, order_key);`);
    const kv = new SealedKv(db, dataKey);
    const setup = new BatchSealer(dataKey);
    db.transaction(() => {
      kv.put(setup, 'signed', '1', keys.signedPreKey.serialize());
      for (const r of keys.preKeys) kv.put(setup, 'prekey', String(r.id()), r.serialize());
      for (const r of keys.kyberPreKeys) kv.put(setup, 'kyber', String(r.id()), r.serialize());
    })();
    setup.dispose();
    const stores = new FloorStores(kv, keys.identity);
    const sessions = new Sessions(stores);
    const identities = new Identities(stores);
    const preKeys = new PreKeys(stores);
    const signed = new SignedPreKeys(stores);
    const kyber = new KyberPreKeys(stores);
    const insert = db.prepare<[string, string, number, Buffer]>('INSERT INTO messages (id, conversation_id, order_key, sealed) VALUES (?, ?, ?, ?)');
    const walPath = join(dir, 'catchup-floor.db-wal');

    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let syncing: Promise<void> = Promise.resolve();
    for (let at = 0; at < queued.length; at += BATCH) {
      const batch = queued.slice(at, at + BATCH);
      const rows: { id: string; conversationId: string; sentAt: number; text: string; plain: Uint8Array }[] = [];
      for (const q of batch) {
        const plain = await signalDecryptPreKey(PreKeySignalMessage.deserialize(q.body), q.from, keys.address, sessions, identities, preKeys, signed, kyber);
        rows.push({ id: randomBytes(16).toString('hex'), conversationId: q.from.name(), sentAt: Date.now(), text: Buffer.from(plain).toString('utf8'), plain });
      }
      const sealer = new BatchSealer(dataKey);
      db.transaction(() => {
        for (const r of rows) {
          const body = Buffer.from(JSON.stringify({ id: r.id, conversationId: r.conversationId, direction: 'in', sentAt: r.sentAt, text: r.text }), 'utf8');
          insert.run(r.id, r.conversationId, r.sentAt, sealer.seal(body, ad('messages', r.id)));
          body.fill(0);
          r.plain.fill(0);
        }
        stores.persist(sealer);
      })();
      sealer.dispose();
      index.upsert(rows.map((r) => ({ id: r.id, conversationId: r.conversationId, sentAt: r.sentAt, text: r.text })));
      // The batch's fsync runs on libuv's pool while the next batch decrypts (one in flight, as
      // the app's mailbox does since syncCommittedForAcks); its ack goes only after it.
      const ack = Buffer.concat(batch.map((_, i) => Buffer.from(rows[i]?.id ?? '', 'hex')));
      await syncing;
      syncing = syncWal(walPath).then(() => {
        acks.socket.write(ack);
      });
    }
    await syncing;
    await acks.done;
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (index.size !== queued.length) throw new Error(`the floor indexed ${index.size} of ${queued.length}`);
    return { messagesPerSecond: queued.length / seconds, usPerMessage: (seconds * 1e6) / queued.length, cpuUsPerMessage: (cpu.user + cpu.system) / queued.length };
  } finally {
    acks.close();
    index.close();
    db.close();
    dataKey.fill(0);
  }
}

/** One fsync of the WAL on libuv's thread pool (any descriptor flushes the file). */
async function syncWal(walPath: string): Promise<void> {
  const fh = await open(walPath, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** bench/catchup's line for it: the app's catch-up rate of the same run as baseline. */
export async function emitRequiredFloor(dir: string, senders: number, perSender: number, text: (s: number, i: number) => string, appMessagesPerSecond: number): Promise<void> {
  const f = await requiredWorkFloor(dir, senders, perSender, text);
  const round1 = (x: number): number => Math.round(x * 10) / 10;
  emit({
    bench: 'catchup.floor_required',
    value: round1(f.messagesPerSecond),
    unit: 'messages/s',
    baseline: round1(appMessagesPerSecond),
    ratio: Math.round((appMessagesPerSecond / f.messagesPerSecond) * 1000) / 1000,
    params: {
      messages: senders * perSender,
      contacts: senders,
      us_per_msg: Math.round(f.usPerMessage),
      cpu_us_per_msg: Math.round(f.cpuUsPerMessage),
      batch: BATCH,
      baseline_is: 'catchup.throughput (the app, same run)',
      ratio_is: 'app / this floor',
    },
    target: '>= 2000 messages/s (issue #18); this floor bounds any design that decrypts on one thread (its cpu_us_per_msg against 500 µs = 2,000/s on one core)',
  });
}
