// The index's committed writes as they travel to its mirror (mirror.ts), one batch per
// outermost transaction. Three lanes instead of one array per statement: what a catch-up of
// 2,000 messages hands over is then 3 objects, not 6,000+ small arrays with a Buffer and a
// bigint each, and the structured clone on the main thread costs about 1 µs a message instead
// of 3-27 µs (measured under load, issue #18). Doc ids go in a BigInt64Array that is
// transferred, not copied. The worker decodes them in the same order (mirror.ts WORKER_SOURCE).
// The index is in parts (index-db.ts): a `part` write names the part the writes after it go to,
// logged only when the part changes.

/** One code per mirrored write; each takes its arguments from the lanes as listed. */
export const MIRROR_KIND = {
  /** values: key, value */
  setMeta: 0,
  /** docs: doc; values: id (text) */
  insertDoc: 1,
  /** docs: doc; values: id as hex (stored as a blob) */
  insertDocBlob: 2,
  /** docs: doc */
  deleteDoc: 3,
  /** docs: doc; values: body, uni, conv */
  insertFts: 4,
  /** docs: doc */
  deleteFts: 5,
  /** values: n, id */
  insertConv: 6,
  /** values: term */
  insertWord: 7,
  /** values: the part (index-db.ts INDEX_PARTS) the writes after it go to */
  part: 8,
} as const;

export interface MirrorBatch {
  kinds: Uint8Array;
  docs: BigInt64Array;
  values: (string | number)[];
}

/** The writes of the transaction under way, in order; `mark`/`rollback` drop a rolled-back part. */
export class MirrorLog {
  #kinds: number[] = [];
  #docs: bigint[] = [];
  #values: (string | number)[] = [];
  /** The part the last logged write went to (-1: none yet in this batch, so the next one names its part). */
  #part = -1;

  get empty(): boolean {
    return this.#kinds.length === 0;
  }

  #to(part: number): void {
    if (part === this.#part) return;
    this.#kinds.push(MIRROR_KIND.part);
    this.#values.push(part);
    this.#part = part;
  }

  setMeta(part: number, key: string, value: string | number): void {
    this.#to(part);
    this.#kinds.push(MIRROR_KIND.setMeta);
    this.#values.push(key, value);
  }

  insertDoc(part: number, doc: bigint, id: string | Buffer): void {
    this.#to(part);
    this.#kinds.push(typeof id === 'string' ? MIRROR_KIND.insertDoc : MIRROR_KIND.insertDocBlob);
    this.#docs.push(doc);
    this.#values.push(typeof id === 'string' ? id : id.toString('hex'));
  }

  removeDoc(part: number, doc: bigint): void {
    this.#to(part);
    this.#kinds.push(MIRROR_KIND.deleteFts, MIRROR_KIND.deleteDoc);
    this.#docs.push(doc, doc);
  }

  insertFts(part: number, doc: bigint, body: string, uni: string, conv: string): void {
    this.#to(part);
    this.#kinds.push(MIRROR_KIND.insertFts);
    this.#docs.push(doc);
    this.#values.push(body, uni, conv);
  }

  insertConv(part: number, n: number, id: string): void {
    this.#to(part);
    this.#kinds.push(MIRROR_KIND.insertConv);
    this.#values.push(n, id);
  }

  insertWord(part: number, term: string): void {
    this.#to(part);
    this.#kinds.push(MIRROR_KIND.insertWord);
    this.#values.push(term);
  }

  mark(): [number, number, number, number] {
    return [this.#kinds.length, this.#docs.length, this.#values.length, this.#part];
  }

  rollback(to: readonly [number, number, number, number]): void {
    this.#kinds.length = to[0];
    this.#docs.length = to[1];
    this.#values.length = to[2];
    this.#part = to[3];
  }

  /** The batch so far, and a fresh log. */
  take(): MirrorBatch {
    const batch = { kinds: Uint8Array.from(this.#kinds), docs: BigInt64Array.from(this.#docs), values: this.#values };
    this.#kinds = [];
    this.#docs = [];
    this.#values = [];
    this.#part = -1;
    return batch;
  }
}
