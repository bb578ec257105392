// The index's image as one byte string: the index is INDEX_PARTS SQLite databases (index-db.ts),
// each serialized on its own, concatenated behind a small header. A restore can then hand SQLite
// one part per event-loop turn: better-sqlite3's deserialize copies its whole buffer into fresh
// memory in one call (160 MB and 195-312 ms at a million messages in one database; a sixteenth of
// it per part). Layout: "EPHIDXP1" | u32 BE part count | u32 BE length of each part | the parts.
import { CodedError } from '../../shared/errors.ts';

/** A sealed index snapshot that cannot be used (the service then rebuilds the index from the vault). */
export class SnapshotInvalid extends CodedError<'SNAPSHOT_INVALID'> {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('SNAPSHOT_INVALID', `The search index snapshot is unusable: ${detail}`, options);
  }
}

const MAGIC = Buffer.from('EPHIDXP1', 'latin1');
/** More parts than any index of ours has: a header that claims more is not one. */
const MAX_PARTS = 256;
const SQLITE_MAGIC = 'SQLite format 3\0';

/**
 * The parts' images in one buffer of its own (a whole ArrayBuffer: transferable to a worker, zeroed
 * as a whole). Each part's buffer is zeroed once copied (plaintext-derived).
 */
export function joinImages(parts: readonly Uint8Array[]): Buffer {
  const head = MAGIC.length + 4 + 4 * parts.length;
  const total = parts.reduce((n, p) => n + p.byteLength, head);
  const out = Buffer.from(new ArrayBuffer(total));
  MAGIC.copy(out, 0);
  out.writeUInt32BE(parts.length, MAGIC.length);
  let at = head;
  parts.forEach((p, i) => {
    out.writeUInt32BE(p.byteLength, MAGIC.length + 4 + 4 * i);
    out.set(p, at);
    at += p.byteLength;
    p.fill(0);
  });
  return out;
}

/** Views (no copies) of the parts in `bytes`; throws SnapshotInvalid when it is not such an image of `expected` parts. */
export function splitImage(bytes: Uint8Array, expected: number): Uint8Array[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new SnapshotInvalid('not a search index image');
  const count = buf.readUInt32BE(MAGIC.length);
  if (count !== expected || count > MAX_PARTS) throw new SnapshotInvalid('index part count differs');
  let at = MAGIC.length + 4 + 4 * count;
  if (buf.length < at) throw new SnapshotInvalid('index image is truncated');
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const length = buf.readUInt32BE(MAGIC.length + 4 + 4 * i);
    if (length < 100 || at + length > buf.length) throw new SnapshotInvalid('index image is truncated');
    const part = buf.subarray(at, at + length);
    if (part.subarray(0, 16).toString('latin1') !== SQLITE_MAGIC) throw new SnapshotInvalid('not an SQLite image');
    parts.push(part);
    at += length;
  }
  if (at !== buf.length) throw new SnapshotInvalid('index image has trailing bytes');
  return parts;
}

/**
 * The part a message id belongs to (FNV-1a over the id as stored): stable, so it is part of the
 * index format. Ids are spread evenly, so each part is a random sample of the history and its
 * bm25 statistics (documents, their mean length, a term's document count) stay close to those of
 * the whole (docs/search.md "Parts").
 */
export function partOf(id: string | Buffer, parts: number): number {
  let h = 0x811c9dc5;
  if (typeof id === 'string') {
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  } else {
    for (const b of id) h = Math.imul(h ^ b, 0x01000193);
  }
  return (h >>> 0) % parts;
}
