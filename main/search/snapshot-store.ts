// Where the search index's sealed snapshot is kept: the file `search-index`, its generation's own
// key (in the vault's snapshot key slots), and the small sealed record in the vault's kv store
// that vouches for a generation (the order of writes that keeps a crash from leaving a snapshot
// that silently misses changes is in service.ts's header).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { VaultHandle } from '../vault/api.ts';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { VaultCorrupt, VaultLocked } from '../vault/errors.ts';
import { SearchIndex, SnapshotInvalid } from './index-db.ts';
import { readSealedInSteps, type RestoreTimings } from './snapshot-read.ts';

/** What the snapshot store needs from the vault. */
export type SnapshotSource = Pick<
  VaultHandle,
  'profileDir' | 'isUnlocked' | 'sealedFiles' | 'kvGet' | 'kvSet' | 'kvKeys' | 'kvForget' | 'snapshotKeyGet' | 'snapshotKeyPut' | 'forgetSnapshotKeys'
>;

export const SNAPSHOT_FILE = 'search-index';
const KV_NAMESPACE = 'search';
const KV_RECORD = 'snapshot';
/** kv keys (namespace 'search') of the file keys of generations written before the vault's snapshot key slots: KV_FILE_KEY + generation. */
const KV_FILE_KEY = 'file-key-';

const snapshotRef = z.object({ generation: z.string().regex(/^[0-9a-f]{32}$/), seq: z.number().int().nonnegative() });
const snapshotRecord = snapshotRef.extend({ pending: snapshotRef.optional() });
type SnapshotRecord = z.infer<typeof snapshotRecord>;

/** Why the index was rebuilt instead of restored from the snapshot. */
export interface RebuildReason {
  reason: 'no-snapshot' | 'snapshot-unreadable' | 'snapshot-invalid' | 'snapshot-not-vouched';
  detail: string;
}

/** The record vouches for a new generation as pending (before its file is written), keeping the current one. */
export function vouchPending(source: SnapshotSource, generation: string, seq: number): void {
  const previous = readRecord(source);
  writeRecord(source, previous ? { generation: previous.generation, seq: previous.seq, pending: { generation, seq } } : { generation, seq });
}

/**
 * Each snapshot generation is sealed under a random key of its own, kept sealed in one of the
 * vault's snapshot key slots and destroyed (overwritten in place, WAL truncated) once a newer
 * generation is current: an old snapshot's bytes left in freed filesystem blocks then open with no
 * key the profile holds, not even with the data key (docs/threat-model.md). The slots, unlike kv,
 * leave no copy of a destroyed key for the scrub at lock to clear (main/vault/kv.ts), so a new
 * generation owes none. Keys a profile kept in kv before the slots are read there, and forgotten
 * (kvForget: one scrub owed) at the first new generation.
 */
function fileKeyName(generation: string): string {
  return `${KV_FILE_KEY}${generation}`;
}

/** The key of `generation`'s file (the caller zeroes it): in a slot, or in kv for a generation written before the slots. */
function fileKey(source: SnapshotSource, generation: string): Uint8Array | undefined {
  return source.snapshotKeyGet(generation) ?? source.kvGet(KV_NAMESPACE, fileKeyName(generation));
}

/** A fresh key for the generation about to be written (vouched for as pending), stored before its file; the current generation's key is kept. */
export function newFileKey(source: SnapshotSource, generation: string): Buffer {
  const key = randomBytes(32);
  try {
    source.snapshotKeyPut(generation, key, readRecord(source)?.generation);
  } catch (err) {
    key.fill(0);
    throw err;
  }
  return key;
}

/** The file is in place: the record names it current, and every other generation's key is destroyed. */
export function commitSnapshot(source: SnapshotSource, generation: string, seq: number): void {
  writeRecord(source, { generation, seq });
  source.forgetSnapshotKeys(generation);
  for (const k of source.kvKeys(KV_NAMESPACE)) if (k.startsWith(KV_FILE_KEY)) source.kvForget(KV_NAMESPACE, k);
}

/**
 * The snapshot file, opened with the key of a generation the record names (current, then
 * pending: a crash may have come between the file and its record), chunk by chunk between
 * event-loop turns (snapshot-read.ts); a snapshot from before per-generation keys (a generation
 * the record names has no key, or there is no record) opens with the sealed-files subkey (in one
 * call: such a file predates large indexes). Throws VaultCorrupt when none opens it.
 */
async function readSnapshotFile(source: SnapshotSource, record: SnapshotRecord | undefined, timings: RestoreTimings | undefined): Promise<Uint8Array | undefined> {
  let failure: unknown;
  // A file from before per-generation keys can only be one the record names without a key (or
  // one no record names). Otherwise a file no key opens is damaged: it is not read again in one
  // synchronous call (160+ MB at a million messages, ~1 s of blocked thread, review s21 R2).
  let keyless = record === undefined;
  const stillOpen = (): void => {
    if (!source.isUnlocked) throw new VaultLocked();
  };
  for (const generation of [record?.generation, record?.pending?.generation]) {
    const key = generation === undefined ? undefined : fileKey(source, generation);
    if (key?.length !== 32) {
      if (generation !== undefined) keyless = true;
      continue;
    }
    try {
      return await readSealedInSteps(source.profileDir, SNAPSHOT_FILE, key, stillOpen, undefined, timings);
    } catch (err) {
      if (!(err instanceof VaultCorrupt)) throw err;
      failure = err;
    } finally {
      key.fill(0);
    }
  }
  if (!keyless && failure !== undefined) throw failure;
  try {
    return source.sealedFiles.read(SNAPSHOT_FILE);
  } catch (err) {
    throw failure ?? err;
  }
}

/**
 * The image in the snapshot file if it is generation `generation` (opened with that generation's
 * own key, so a file of any other generation fails to open), else undefined. For a mirror started
 * later than the index (service.ts): it must start from exactly the image the index's held writes
 * follow.
 */
export async function readGenerationImage(source: SnapshotSource, generation: string): Promise<Uint8Array | undefined> {
  const key = fileKey(source, generation);
  if (key?.length !== 32) return undefined;
  try {
    return await readSealedInSteps(source.profileDir, SNAPSHOT_FILE, key, () => {
      if (!source.isUnlocked) throw new VaultLocked();
    });
  } catch (err) {
    if (err instanceof VaultCorrupt) return undefined;
    throw err;
  } finally {
    key.fill(0);
  }
}

function readRecord(source: SnapshotSource): SnapshotRecord | undefined {
  const raw = source.kvGet(KV_NAMESPACE, KV_RECORD);
  if (!raw) return undefined;
  try {
    const parsed = snapshotRecord.safeParse(JSON.parse(Buffer.from(raw).toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function writeRecord(source: SnapshotSource, record: SnapshotRecord): void {
  source.kvSet(KV_NAMESPACE, KV_RECORD, Buffer.from(JSON.stringify(record), 'utf8'));
}

/**
 * The index from the sealed snapshot, with the image it came from (the caller zeroes it), or why
 * not. The file is read between event-loop turns, and the index's parts are deserialized one per
 * turn (SQLite copies each part's image in one call: a sixteenth of the whole). A lock meanwhile
 * ends it with VaultLocked, the parts opened so far closed and the image zeroed.
 */
export async function loadSnapshot(source: SnapshotSource, timings?: RestoreTimings): Promise<{ index: SearchIndex; image: Uint8Array } | RebuildReason> {
  const record = readRecord(source);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readSnapshotFile(source, record, timings);
  } catch (err) {
    if (err instanceof VaultCorrupt) return { reason: 'snapshot-unreadable', detail: err.message };
    throw err;
  }
  if (!bytes) return { reason: 'no-snapshot', detail: 'no snapshot file' };
  let index: SearchIndex;
  try {
    index = await SearchIndex.restoreInSteps(
      bytes,
      async () => {
        await yieldToEventLoop();
        if (!source.isUnlocked) throw new VaultLocked();
      },
      (ms) => {
        if (!timings) return;
        timings.deserializeMs += ms;
        timings.partMs.push(ms);
        timings.longestBlockMs = Math.max(timings.longestBlockMs, ms);
      },
    );
  } catch (err) {
    bytes.fill(0); // plaintext-derived
    if (err instanceof SnapshotInvalid) return { reason: 'snapshot-invalid', detail: err.message };
    throw err;
  }
  const generation = index.getMeta('generation');
  const seq = index.seq;
  const vouched =
    record !== undefined &&
    generation !== undefined &&
    ((record.generation === generation && record.seq === seq) || (record.pending?.generation === generation && record.pending.seq === seq));
  if (!vouched) {
    index.close();
    bytes.fill(0);
    return { reason: 'snapshot-not-vouched', detail: record ? 'snapshot generation or seq differs from the vault record' : 'the vault has no snapshot record' };
  }
  // The file is the pending one (a crash came before its record was made current): make it
  // current now, so the next snapshot's pending entry does not push it out of the record, and
  // destroy the old current's key, as the commit the crash cut short would have (it owes no scrub).
  if (record.generation !== generation) {
    writeRecord(source, { generation, seq });
    source.forgetSnapshotKeys(generation);
  }
  return { index, image: bytes };
}
