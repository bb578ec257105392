// The index's committed writes as they travel to its mirror (mirror.ts), one batch per
// outermost transaction. Three lanes instead of one array per statement: what a catch-up of
// 2,000 messages hands over is then 3 objects, not 6,000+ small arrays with a Buffer and a
// bigint each, and the structured clone on the main thread costs about 1 µs a message instead
// of 3-27 µs (measured under load, issue #18). Doc ids go in a BigInt64Array that is
// transferred, not copied. The worker decodes them in the same order (mirror.ts WORKER_SOURCE).

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

  get empty(): boolean {
    return this.#kinds.length === 0;
  }

  setMeta(key: string, value: string | number): void {
    this.#kinds.push(MIRROR_KIND.setMeta);
    this.#values.push(key, value);
  }

  insertDoc(doc: bigint, id: string | Buffer): void {
    this.#kinds.push(typeof id === 'string' ? MIRROR_KIND.insertDoc : MIRROR_KIND.insertDocBlob);
    this.#docs.push(doc);
    this.#values.push(typeof id === 'string' ? id : id.toString('hex'));
  }

  removeDoc(doc: bigint): void {
    this.#kinds.push(MIRROR_KIND.deleteFts, MIRROR_KIND.deleteDoc);
    this.#docs.push(doc, doc);
  }

  insertFts(doc: bigint, body: string, uni: string, conv: string): void {
    this.#kinds.push(MIRROR_KIND.insertFts);
    this.#docs.push(doc);
    this.#values.push(body, uni, conv);
  }

  insertConv(n: number, id: string): void {
    this.#kinds.push(MIRROR_KIND.insertConv);
    this.#values.push(n, id);
  }

  insertWord(term: string): void {
    this.#kinds.push(MIRROR_KIND.insertWord);
    this.#values.push(term);
  }

  mark(): [number, number, number] {
    return [this.#kinds.length, this.#docs.length, this.#values.length];
  }

  rollback(to: readonly [number, number, number]): void {
    this.#kinds.length = to[0];
    this.#docs.length = to[1];
    this.#values.length = to[2];
  }

  /** The batch so far, and a fresh log. */
  take(): MirrorBatch {
    const batch = { kinds: Uint8Array.from(this.#kinds), docs: BigInt64Array.from(this.#docs), values: this.#values };
    this.#kinds = [];
    this.#docs = [];
    this.#values = [];
    return batch;
  }
}
