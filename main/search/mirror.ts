// A copy of the in-memory search index in a worker thread, so the sealed snapshot's image is
// made off the main thread (the event loop never blocks longer than 50 ms during a
// mass deletion; `sqlite3_serialize` of a 1M-message index copies 100+ MB in one call).
//
// Why a mirror and not the index itself in the worker: every search and catch-up stays a plain
// synchronous call on the main thread, as before; the worker only repeats the index's committed
// writes (SearchIndex.setMirror: statements of MIRRORED_SQL, their parameters in a MirrorBatch) on
// its own copy (its parts), started from the same image. When a snapshot is due, the worker purges its copy
// (every segment merged so no deleted term is left, dead words dropped), serializes it and
// transfers the bytes; the main thread only seals and writes them in chunks (sealed-files
// writeInSteps). The image holds the same documents, words and meta as the main index at the
// moment of the request (writes after it queue behind it in the worker).
//
// The worker's code is a string (no module file): it needs only better-sqlite3, and a string
// survives every way the app is run (tsx, vitest, the bundled Electron main) alike.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { sqliteOptions } from '../vault/sqlite-binding.ts';
import { MIRRORED_SQL, PART_CACHE_KIB, PURGE_SQL } from './index-db.ts';
import { MIRROR_KIND, type MirrorBatch } from './mirror-batch.ts';

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
// The index's parts (index-db.ts), each its own database; the image is index-image.ts's layout,
// already checked by the main thread (it made it or restored the index from it).
const parts = [];
{
  const buffer = workerData.image;
  workerData.image = undefined;
  try {
    const all = Buffer.from(buffer);
    const count = all.readUInt32BE(8);
    let at = 12 + 4 * count;
    for (let i = 0; i < count; i++) {
      const length = all.readUInt32BE(12 + 4 * i);
      parts.push(new Database(all.subarray(at, at + length), workerData.nativeBinding ? { nativeBinding: workerData.nativeBinding } : {}));
      at += length;
    }
  } finally {
    new Uint8Array(buffer).fill(0);
    // Zeroed, and handed back rather than left to this thread's collector: an idle worker may not
    // collect for a long time, and the image is as big as the index (160 MB at a million messages).
    parentPort.postMessage({ kind: 'released', bytes: buffer }, [buffer]);
  }
}
const partStmts = parts.map((db) => {
  db.pragma('temp_store = MEMORY');
  db.pragma('cache_size = -' + workerData.cacheKib);
  db.pragma('secure_delete = ON');
  db.exec(workerData.purge.vocab);
  const stmts = {};
  for (const [name, sql] of Object.entries(workerData.sql)) stmts[name] = db.prepare(sql);
  stmts.prune = db.prepare(workerData.purge.pruneWords);
  return stmts;
});
const K = workerData.kinds;
// Whether a delete was applied since the last purge, and how many documents were added. The start
// image holds no deleted term (every snapshot image is purged when made, a rebuild's starts
// empty). A purge (FTS5 'optimize': every segment of the index rewritten, seconds at a million
// messages) must drop deleted terms, and merges what was added into one segment for the queries;
// after a few appends alone (a lock soon after an unlock) the image is serialized as it stands.
let deletedSincePurge = false;
let addedSincePurge = 0;
const MERGE_AFTER_ADDED = 20000;
// One batch of mirror-batch.ts's lanes: each kind takes its arguments from them in order; a
// 'part' write switches the part the next ones go to (every batch names its first part). One
// transaction over the parts the batch writes to, begun in each at its first write, as the index does.
function applyBatch(b) {
  const { kinds, docs, values } = b;
  const begun = [];
  try {
    let stmts;
    let d = 0;
    let v = 0;
    for (let i = 0; i < kinds.length; i++) {
      switch (kinds[i]) {
        case K.part: {
          const at = values[v++];
          stmts = partStmts[at];
          if (!stmts) throw new Error('no such part');
          if (!parts[at].inTransaction) {
            parts[at].exec('BEGIN');
            begun.push(parts[at]);
          }
          break;
        }
        case K.setMeta: stmts.setMeta.run(values[v], values[v + 1]); v += 2; break;
        case K.insertDoc: stmts.insertDoc.run(docs[d++], values[v++]); break;
        case K.insertDocBlob: stmts.insertDoc.run(docs[d++], Buffer.from(values[v++], 'hex')); break;
        case K.deleteDoc: stmts.deleteDoc.run(docs[d++]); deletedSincePurge = true; break;
        case K.insertFts: stmts.insertFts.run(docs[d++], values[v], values[v + 1], values[v + 2]); v += 3; addedSincePurge++; break;
        case K.deleteFts: stmts.deleteFts.run(docs[d++]); deletedSincePurge = true; break;
        case K.insertConv: stmts.insertConv.run(values[v], values[v + 1]); v += 2; break;
        case K.insertWord: stmts.insertWord.run(values[v++]); break;
        default: throw new Error('unknown mirrored write ' + kinds[i]);
      }
    }
    for (const db of begun) db.exec('COMMIT');
  } catch (err) {
    for (const db of begun) if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
let failed;
parentPort.on('message', (msg) => {
  if (msg.kind === 'batch') {
    if (failed) return;
    try {
      applyBatch(msg.batch);
    } catch (err) {
      failed = String(err && err.message);
    }
    return;
  }
  if (msg.kind === 'snapshot') {
    if (failed) {
      parentPort.postMessage({ id: msg.id, error: 'the mirror fell behind: ' + failed });
      return;
    }
    try {
      if (deletedSincePurge || addedSincePurge >= MERGE_AFTER_ADDED) {
        parts.forEach((db, i) => db.transaction(() => {
          db.exec(workerData.purge.optimize);
          partStmts[i].prune.run();
        })());
        deletedSincePurge = false;
        addedSincePurge = 0;
      }
      // index-image.ts's layout, in one transferable buffer.
      const imgs = parts.map((db) => {
        db.pragma('incremental_vacuum');
        return db.serialize();
      });
      const head = 12 + 4 * imgs.length;
      const out = new ArrayBuffer(imgs.reduce((n, img) => n + img.length, head));
      const all = Buffer.from(out);
      all.write('EPHIDXP1', 0, 'latin1');
      all.writeUInt32BE(imgs.length, 8);
      let at = head;
      imgs.forEach((img, i) => {
        all.writeUInt32BE(img.length, 12 + 4 * i);
        all.set(img, at);
        at += img.length;
        img.fill(0);
      });
      parentPort.postMessage({ id: msg.id, bytes: out }, [out]);
    } catch (err) {
      parentPort.postMessage({ id: msg.id, error: String(err && err.message) });
    }
    return;
  }
  if (msg.kind === 'close') {
    for (const db of parts) db.close();
    parentPort.close();
  }
});
`;

type Reply = { id: number; bytes: ArrayBuffer } | { id: number; error: string } | { kind: 'released'; bytes: ArrayBuffer };

export class IndexMirror {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #dead: Error | undefined;
  #released = false;

  private constructor(worker: Worker) {
    this.#worker = worker;
    // A mirror does not keep the process alive; the index's owner closes it.
    worker.unref();
    worker.on('message', (m: Reply) => {
      if ('kind' in m) {
        this.#released = true; // the start image, zeroed by the worker once loaded: dropped here
        return;
      }
      const w = this.#waiting.get(m.id);
      if (!w) {
        if ('bytes' in m) new Uint8Array(m.bytes).fill(0);
        return;
      }
      this.#waiting.delete(m.id);
      if ('bytes' in m) w.resolve(Buffer.from(m.bytes));
      else w.reject(new Error(m.error));
    });
    const die = (err: Error): void => {
      this.#dead ??= err;
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
    };
    worker.on('error', die);
    worker.on('exit', () => die(new Error('the search mirror stopped')));
  }

  /**
   * Starts a mirror from an image of the index (`SearchIndex.serialize()` or the snapshot it was
   * restored from). The image's buffer is transferred, not copied, when it is a whole
   * ArrayBuffer (the worker zeroes it once loaded); otherwise it is copied and the caller's
   * bytes are left to the caller.
   */
  static start(image: Uint8Array): IndexMirror {
    const whole = image.byteOffset === 0 && image.byteLength === image.buffer.byteLength && image.buffer instanceof ArrayBuffer;
    const buffer = whole ? (image.buffer as ArrayBuffer) : new Uint8Array(image).buffer;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        module: createRequire(import.meta.url).resolve('better-sqlite3'),
        nativeBinding: sqliteOptions().nativeBinding,
        image: buffer,
        sql: MIRRORED_SQL,
        kinds: MIRROR_KIND,
        purge: PURGE_SQL,
        cacheKib: PART_CACHE_KIB,
      },
      transferList: [buffer],
    });
    return new IndexMirror(worker);
  }

  /** The worker has loaded its copy and handed the (zeroed) start image back. */
  get loaded(): boolean {
    return this.#released;
  }

  /** False once the worker failed or stopped: the owner then serializes on its own thread again. */
  get alive(): boolean {
    return this.#dead === undefined;
  }

  /** Repeats committed writes of the index (SearchIndex.setMirror's sink); the batch's doc lane is transferred. */
  apply(batch: MirrorBatch): void {
    if (this.#dead) return;
    this.#worker.postMessage({ kind: 'batch', batch }, [batch.docs.buffer as ArrayBuffer]);
  }

  /** The purged image of the index as of every write applied before this call (plaintext-derived: seal it, then zero it). */
  snapshot(): Promise<Buffer> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ kind: 'snapshot', id });
    });
  }

  close(): void {
    if (this.#dead) return;
    this.#dead = new Error('the search mirror is closed');
    this.#worker.postMessage({ kind: 'close' });
  }
}
