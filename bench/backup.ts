// Backup benchmarks (issue 7), each against a baseline measured in the same run:
// - export MB/s (vault -> JSON lines -> age, X25519 recipient) vs `age -e` encrypting the same
//   plaintext stream; import MB/s (verify pass + apply pass into a new vault) vs `age -d`.
// - peak RSS of export and import at the small and the large size (large / small, target <= 1.3).
// - the backup layer alone (no vault): encode+encrypt and decrypt+validate vs `age`.
// - export vs the vault's own iterateMessages, import vs the vault's own appendMessages of the
//   same history: what the backup adds on top of the vault's floor.
// - ceilings: the vault's own read and append floors vs `age`, and the JSON codec alone
//   (JSON.stringify of every record, JSON.parse of every line of the same stream) vs `age`.
// - the vault's read floor when every message has had a state update (delivery/read receipts,
//   as in a lived-in vault: one small sealed state row each) vs the same history without.
// - export on one thread (information: what the worker thread of main/backup/worker-export.ts
//   gains, same run), and import's read-and-check work alone (verifyBackup) added to the append
//   floor: what a one-thread import costs if its appends cost what the floor's do (the import
//   reads the file once, and its appends, in one long transaction, skip the floor's per-batch
//   commits, so it can beat this line).
// - the main thread's event-loop delay (p99, max) during export and import, and its own CPU time
//   (Linux /proc; the process's CPU time counts export's worker thread too); the import's last
//   turns split: its COMMIT and the checkpoint after it (ms each run), and that checkpoint's floor,
//   a plain write + fsync of as many bytes as the -wal held (information).
// Import and append floor pay the same checkpoints (stop 26): the import is timed until the checkpoint
// its COMMIT schedules for a later turn has ended (`ratio_until_resolved`: to importBackup's
// resolution, as before), and the floor until the one its last commits scheduled has ended (the
// ones past WAL_LIMIT_BYTES run inside its commits, timed).
// Export and import each run in a fresh child process so peak RSS is theirs alone. Export, the read
// floor and read+encode run twice each, alternating, and the best of each counts: both warm. The
// append floor and the import also run twice each, alternating (fastest counts; the import's loop
// delay and peak RSS are the worse of its two runs).
// MB/s is plaintext stream bytes per second. Vaults use TEST_KDF: Argon2 is not measured here.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emit, loopDelay, ratioOf, type BenchOptions } from './report.ts';
import { TEST_KDF, Vault } from '../main/vault/index.ts';
import { WAL_CHECKPOINT_BYTES } from '../main/vault/checkpoints.ts';
import type { NewMessage } from '../main/vault/api.ts';
import { exportBackup, importBackup } from '../main/backup/index.ts';
import { AgeWriter, createHeader, openAgeFile } from '../main/backup/age-file.ts';
import { encodeLine, encodeMessageLine } from '../main/backup/format.ts';
import { readRecords, splitLines } from '../main/backup/stream.ts';
import { verifyBackup } from '../main/backup/read.ts';

const PASSWORD = 'bench password';
const CONVERSATIONS = 50;
const WORDS = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'café', 'straße', '東京', 'backup', 'message', 'hello', 'tomorrow', 'ok'];

function message(n: number): NewMessage {
  let text = `#${n}`;
  const words = 5 + (n % 25);
  for (let w = 0; w < words; w++) text += ` ${WORDS[(n * 7 + w * 13) % WORDS.length]}`;
  return {
    id: `${n.toString(16).padStart(12, '0')}${(n * 2654435761 % 2 ** 32).toString(16).padStart(8, '0')}`,
    conversationId: `conv-${(n % CONVERSATIONS).toString().padStart(3, '0')}`,
    direction: n % 2 === 0 ? 'in' : 'out',
    sender: n % 2 === 0 ? `contact-${n % CONVERSATIONS}` : 'self',
    sentAt: 1_700_000_000_000 + n * 1000,
    receivedAt: 1_700_000_000_000 + n * 1000 + 250,
    text,
    state: n % 2 === 0 ? 'received' : 'read',
  };
}

interface ChildResult {
  ms: number;
  maxRssMiB: number;
  /** export: the vault's own iterateMessages over the same history (the floor of any export). */
  floorMs?: number;
  /** export: reading every message and encoding its line, nothing written (the floor of a JSON-lines export). */
  readEncodeMs?: number;
  /**
   * The same as CPU time of this process (user + system, ms): far less moved by other work on a
   * shared machine than the wall times, so the cpu_ratio params say what bounds what under load.
   */
  cpuMs?: number;
  floorCpuMs?: number;
  readEncodeCpuMs?: number;
  /** The main thread's own CPU time (ms; Linux only, else undefined). */
  mainCpuMs?: number;
  /** Event-loop delay of the main thread during the work (ms). */
  loopP99Ms?: number;
  loopMaxMs?: number;
  /** export: the same on one thread (thread: 'main'). */
  oneThreadMs?: number;
  /** import: its verify pass alone (verifyBackup of the same file). */
  verifyMs?: number;
  /** import: its last COMMIT (ms), the checkpoint after it (ms), and the -wal's size then (bytes). */
  commitMs?: number;
  checkpointMs?: number;
  walBytes?: number;
  /** import: until importBackup resolved, without the checkpoint that follows in a later turn (`ms` counts to its end). */
  resolvedMs?: number;
  /** import: writing as many bytes as that -wal held to a scratch file, and its fsync (ms): the checkpoint's floor. */
  boundWriteMs?: number;
  boundFsyncMs?: number;

}

const TASK_STAT = `/proc/self/task/${process.pid}/stat`;
/** CPU time of this process's main thread (user + system, ms; 10 ms ticks), or undefined off Linux. */
function mainThreadCpuMs(): number | undefined {
  if (!existsSync(TASK_STAT)) return undefined;
  const fields = (readFileSync(TASK_STAT, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

async function child(mode: string, args: string[]): Promise<ChildResult> {
  if (mode === 'populate') {
    const [dir, countArg] = args as [string, string];
    const { vault } = await Vault.create(dir, PASSWORD, { kdf: TEST_KDF });
    for (let c = 0; c < CONVERSATIONS; c++) {
      vault.upsertContact({ id: `contact-${c}`, handle: `user${c}`, displayName: `User ${c}`, identityChanged: false, createdAt: 1 });
      vault.upsertConversation({ id: `conv-${c.toString().padStart(3, '0')}`, kind: 'direct', contactId: `contact-${c}`, title: `User ${c}`, lastActivity: c, unread: 0 });
    }
    const count = Number(countArg);
    let ms = 0;
    let cpuMs = 0;
    const checkpoints = checkpointEnds();
    for (let b = 0; b < count; b += 5000) {
      const batch: NewMessage[] = [];
      for (let n = b; n < Math.min(count, b + 5000); n++) batch.push(message(n));
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      vault.appendMessages(batch);
      cpuMs += cpuMsSince(c0);
      ms += performance.now() - t0;
    }
    // Checkpoints past WAL_LIMIT_BYTES run inside a commit (timed above); the one the last commits
    // scheduled for a later turn is timed too, until it ended, as the import's is.
    const loopEnd = performance.now();
    const wal = join(dir, 'vault.db-wal');
    let tailMs = 0;
    if ((statSync(wal, { throwIfNoEntry: false })?.size ?? 0) >= WAL_CHECKPOINT_BYTES) {
      for (let i = 0; i < 12_000 && checkpoints.lastEnd < loopEnd; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      if (checkpoints.lastEnd >= loopEnd) tailMs = checkpoints.lastEnd - loopEnd;
    }
    ms += tailMs;
    checkpoints.stop();
    vault.lock();
    // ms: appending the same history in batches of 5000 (the floor of any import); checkpointMs: its tail checkpoint's wait.
    return { ms, maxRssMiB: 0, cpuMs, checkpointMs: tailMs };
  }
  if (mode === 'read') {
    // The vault read floor, after giving every message a state update when asked.
    const [dir, withStates] = args as [string, string];
    const vault = await Vault.unlock(dir, PASSWORD);
    if (withStates === 'states') {
      const ids: string[] = [];
      for (const m of vault.iterateMessages()) ids.push(m.id);
      for (let i = 0; i < ids.length; i += 10_000) {
        vault.transaction(() => {
          for (const id of ids.slice(i, i + 10_000)) vault.updateMessageState(id, 'read');
        });
      }
    }
    let best = Infinity;
    for (let run = 0; run < 2; run++) {
      const t0 = performance.now();
      let chars = 0;
      for (const m of vault.iterateMessages()) chars += m.text.length;
      if (chars >= 0) best = Math.min(best, performance.now() - t0);
    }
    vault.lock();
    return { ms: best, maxRssMiB: 0 };
  }
  if (mode === 'export') {
    const [dir, file, recipient] = args as [string, string, string];
    const vault = await Vault.unlock(dir, PASSWORD);
    const r: Required<Pick<ChildResult, 'ms' | 'cpuMs' | 'floorMs' | 'floorCpuMs' | 'readEncodeMs' | 'readEncodeCpuMs'>> & ChildResult = { ms: Infinity, cpuMs: Infinity, floorMs: Infinity, floorCpuMs: Infinity, readEncodeMs: Infinity, readEncodeCpuMs: Infinity, maxRssMiB: 0, loopP99Ms: 0, loopMaxMs: 0 };
    for (let run = 0; run < 2; run++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const m0 = mainThreadCpuMs();
      const loop = loopDelay();
      await exportBackup(vault, file, { keys: { recipients: [recipient] } });
      const delay = loop.stop();
      const m1 = mainThreadCpuMs();
      const cpuMs = cpuMsSince(c0);
      const ms = performance.now() - t0;
      if (ms < r.ms) Object.assign(r, { ms, cpuMs, ...(m0 !== undefined && m1 !== undefined ? { mainCpuMs: m1 - m0 } : {}) });
      r.loopP99Ms = Math.max(r.loopP99Ms ?? 0, delay.p99Ms);
      r.loopMaxMs = Math.max(r.loopMaxMs ?? 0, delay.maxMs);
      if (run === 0) r.maxRssMiB = process.resourceUsage().maxRSS / 1024;
      const t1 = performance.now();
      const c1 = process.cpuUsage();
      let chars = 0;
      for (const m of vault.iterateMessages()) chars += m.text.length;
      const floorCpuMs = cpuMsSince(c1);
      const floorMs = performance.now() - t1;
      if (chars >= 0 && floorMs < r.floorMs) Object.assign(r, { floorMs, floorCpuMs });
      // Reading and encoding every message line, nothing written: what a line-per-record JSON
      // export of this vault costs on one thread (the same encoder export uses).
      const t2 = performance.now();
      const c2 = process.cpuUsage();
      let encoded = 0;
      for (const m of vault.iterateMessages()) encoded += encodeMessageLine(m).length;
      const readEncodeCpuMs = cpuMsSince(c2);
      const readEncodeMs = performance.now() - t2;
      if (encoded > 0 && readEncodeMs < r.readEncodeMs) Object.assign(r, { readEncodeMs, readEncodeCpuMs });
    }
    // Export as before its worker thread (information): everything on the calling thread.
    const t3 = performance.now();
    await exportBackup(vault, file, { keys: { recipients: [recipient] }, thread: 'main' });
    r.oneThreadMs = performance.now() - t3;
    vault.lock();
    return r;
  }
  if (mode === 'export-rss') {
    // One export in a process of its own: its peak RSS alone (main.ts takes the median of three).
    const [dir, file, recipient] = args as [string, string, string];
    const vault = await Vault.unlock(dir, PASSWORD);
    const t0 = performance.now();
    await exportBackup(vault, file, { keys: { recipients: [recipient] } });
    const ms = performance.now() - t0;
    const maxRssMiB = process.resourceUsage().maxRSS / 1024;
    vault.lock();
    return { ms, maxRssMiB };
  }
  if (mode === 'import') {
    const [dir, file, identity] = args as [string, string, string];
    const { vault } = await Vault.create(dir, PASSWORD, { kdf: TEST_KDF });
    const last = timeCommitAndCheckpoint(join(dir, 'vault.db-wal'));
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const m0 = mainThreadCpuMs();
    const loop = loopDelay();
    await importBackup(vault, file, { keys: { identities: [identity] }, trustUnsigned: true });
    const m1 = mainThreadCpuMs();
    const cpuMs = cpuMsSince(c0);
    const ms = performance.now() - t0;
    // Stopped after the checkpoint that follows the import's COMMIT (in its turn, or in a later
    // one since stop 25) and a timer turn after it, so the monitor sees both turns' delays.
    for (let i = 0; i < 12_000 && last.checkpointMs === undefined && (last.walBytes ?? 0) >= WAL_CHECKPOINT_BYTES; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 25));
    const delay = loop.stop();
    // Timed until the checkpoint the import's commit owes has run, as the floor's time counts its own.
    const untilCheckpointMs = Math.max(ms, last.checkpointEnd !== undefined ? last.checkpointEnd - t0 : ms);
    const maxRssMiB = process.resourceUsage().maxRSS / 1024;
    vault.lock();
    last.stop();
    const bound = writeAndFsync(join(dir, 'bound.scratch'), last.walBytes ?? 0);
    // The verify pass alone, after the import (its page cache as warm as the import's second pass).
    const t1 = performance.now();
    await verifyBackup(file, { keys: { identities: [identity] } });
    const verifyMs = performance.now() - t1;
    return { ms: untilCheckpointMs, resolvedMs: ms, maxRssMiB, cpuMs, loopP99Ms: delay.p99Ms, loopMaxMs: delay.maxMs, verifyMs, ...(last.commitMs !== undefined ? { commitMs: last.commitMs } : {}), ...(last.checkpointMs !== undefined ? { checkpointMs: last.checkpointMs } : {}), ...(last.walBytes !== undefined ? { walBytes: last.walBytes } : {}), boundWriteMs: bound.writeMs, boundFsyncMs: bound.fsyncMs, ...(m0 !== undefined && m1 !== undefined ? { mainCpuMs: m1 - m0 } : {}) };
  }
  throw new Error(`unknown child mode ${mode}`);
}

/**
 * Times the connection's last COMMIT and the first WAL checkpoint after it (better-sqlite3's
 * exec and pragma, wrapped for this child's lifetime): the import's last turn, split. The -wal's
 * size is taken right after that COMMIT.
 */
function timeCommitAndCheckpoint(walPath: string): { commitMs?: number; checkpointMs?: number; checkpointEnd?: number; walBytes?: number; stop: () => void } {
  const proto = Database.prototype;
  const { exec, pragma } = proto;
  const last: { commitMs?: number; checkpointMs?: number; checkpointEnd?: number; walBytes?: number; stop: () => void } = {
    stop: () => {
      proto.exec = exec;
      proto.pragma = pragma;
    },
  };
  proto.exec = function (this: Database.Database, source: string) {
    if (source !== 'COMMIT') return exec.call(this, source);
    const t = performance.now();
    const r = exec.call(this, source);
    last.commitMs = performance.now() - t;
    last.walBytes = statSync(walPath, { throwIfNoEntry: false })?.size ?? 0;
    delete last.checkpointMs;
    delete last.checkpointEnd;
    return r;
  };
  proto.pragma = function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
    if (!source.startsWith('wal_checkpoint') || last.commitMs === undefined || last.checkpointMs !== undefined) return pragma.call(this, source, options);
    const t = performance.now();
    const r: unknown = pragma.call(this, source, options);
    last.checkpointEnd = performance.now();
    last.checkpointMs = last.checkpointEnd - t;
    return r;
  } as typeof pragma;
  return last;
}

/** When the connection's last WAL checkpoint ended (better-sqlite3's pragma, wrapped for this child's lifetime). */
function checkpointEnds(): { lastEnd: number; stop: () => void } {
  const proto = Database.prototype;
  const { pragma } = proto;
  const seen = { lastEnd: -Infinity, stop: () => void (proto.pragma = pragma) };
  proto.pragma = function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
    const r: unknown = pragma.call(this, source, options);
    if (source.startsWith('wal_checkpoint')) seen.lastEnd = performance.now();
    return r;
  } as typeof pragma;
  return seen;
}

/** Writes `bytes` to a new file in 1 MiB writes, then fsyncs it: what a checkpoint's copy of that much must at least do. */
function writeAndFsync(path: string, bytes: number): { writeMs: number; fsyncMs: number } {
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  const fd = openSync(path, 'w');
  try {
    const t0 = performance.now();
    for (let done = 0; done < bytes; done += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - done));
    const t1 = performance.now();
    fsyncSync(fd);
    return { writeMs: t1 - t0, fsyncMs: performance.now() - t1 };
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

const here = fileURLToPath(import.meta.url);

function runChild(mode: string, args: string[]): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', here, '--child', mode, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench child ${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as ChildResult;
}

/** The run that took least wall time. */
function fastest(runs: ChildResult[]): ChildResult {
  return runs.reduce((best, r) => (r.ms < best.ms ? r : best));
}

function timeAge(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync('age', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`age ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return ms;
}

const mbps = (bytes: number, ms: number): number => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;

/** The backup layer alone: records -> JSON lines -> age file, and back with full validation. */
async function layerOnly(root: string, count: number, recipient: string, identity: string, identityFile: string): Promise<void> {
  const file = join(root, 'layer.age');
  const header = await createHeader({ recipients: [recipient] });
  // Records are built before the clock starts: only encoding and encryption are timed.
  const stored: Array<Required<NewMessage>> = [];
  for (let n = 0; n < count; n++) {
    const m = message(n);
    stored.push({ ...m, receivedAt: m.receivedAt ?? 0 });
  }
  const t0 = performance.now();
  const fd = openSync(file, 'w');
  const w = new AgeWriter(fd, header);
  let batch = '';
  let plainBytes = 0;
  const flush = (): void => {
    const b = Buffer.from(batch, 'utf8');
    plainBytes += b.length;
    w.write(b);
    batch = '';
  };
  const counts = { contacts: 0, conversations: 0, messages: count, secrets: 0 };
  batch += encodeLine({ type: 'header', format: 'ephemera-backup', version: 1, created: 1, counts, includesIdentity: false });
  for (const m of stored) {
    batch += encodeMessageLine(m);
    if (batch.length >= 65536) flush();
  }
  batch += encodeLine({ type: 'end', counts });
  flush();
  w.end();
  closeSync(fd);
  const encMs = performance.now() - t0;

  const t1 = performance.now();
  const opened = await openAgeFile(file, { identities: [identity] });
  let seen = 0;
  for (const r of readRecords(splitLines(opened.chunks()))) if (r.kind === 'message') seen++;
  opened.close();
  const decMs = performance.now() - t1;
  if (seen !== count) throw new Error('layer bench lost messages');

  const plain = join(root, 'layer.jsonl');
  spawnSync('age', ['-d', '-i', identityFile, '-o', plain, file]);
  const ageEnc = timeAge(['-e', '-r', recipient, '-o', join(root, 'layer-age.age'), plain]);
  const ageDec = timeAge(['-d', '-i', identityFile, '-o', '/dev/null', file]);
  // The JSON codec alone, no encryption and no validation: any line-per-record JSON format
  // costs at least this much.
  const lines = readFileSync(plain, 'utf8').split('\n');
  const t2 = performance.now();
  let encoded = 0;
  for (const m of stored) encoded += JSON.stringify({ type: 'message', ...m }).length;
  const stringifyMs = performance.now() - t2;
  const t3 = performance.now();
  let parsed = 0;
  for (const line of lines) if (line.length > 0 && JSON.parse(line) !== null) parsed++;
  const parseMs = performance.now() - t3;
  if (encoded === 0 || parsed !== count + 2) throw new Error('json ceiling bench lost lines');
  const params = { messages: count, plaintext_mb: Math.round(plainBytes / 1e5) / 10 };
  emit({ bench: 'backup.json_stringify_ceiling_vs_age', value: mbps(plainBytes, stringifyMs), unit: 'MB/s', baseline: mbps(plainBytes, ageEnc), ratio: ratioOf(stringifyMs, ageEnc, false), params });
  emit({ bench: 'backup.json_parse_ceiling_vs_age', value: mbps(plainBytes, parseMs), unit: 'MB/s', baseline: mbps(plainBytes, ageDec), ratio: ratioOf(parseMs, ageDec, false), params });
  emit({ bench: 'backup.layer_encode_encrypt', value: mbps(plainBytes, encMs), unit: 'MB/s', baseline: mbps(plainBytes, ageEnc), ratio: ratioOf(encMs, ageEnc, false), params });
  emit({ bench: 'backup.layer_decrypt_validate', value: mbps(plainBytes, decMs), unit: 'MB/s', baseline: mbps(plainBytes, ageDec), ratio: ratioOf(decMs, ageDec, false), params });
}

export async function main(opts: BenchOptions): Promise<void> {
  const sizes = opts.quick ? [10_000, 100_000] : [100_000, 1_000_000];
  const root = mkdtempSync(join(tmpdir(), 'ephemera-bench-backup-'));
  try {
    const identityFile = join(root, 'id.txt');
    spawnSync('age-keygen', ['-o', identityFile], { stdio: 'ignore' });
    const recipient = spawnSync('age-keygen', ['-y', identityFile], { encoding: 'utf8' }).stdout.trim();
    const identity = spawnSync('grep', ['^AGE-SECRET-KEY-1', identityFile], { encoding: 'utf8' }).stdout.trim();

    const rss: Record<'export' | 'import', number[]> = { export: [], import: [] };
    const exportRssRuns: string[] = [];
    for (const size of sizes) {
      const profile = join(root, `p-${size}`);
      const file = join(root, `b-${size}.age`);
      const populate = runChild('populate', [profile, String(size)]);
      const exp = runChild('export', [profile, file, recipient]);
      const plain = join(root, `b-${size}.jsonl`);
      spawnSync('age', ['-d', '-i', identityFile, '-o', plain, file]);
      const plainBytes = statSync(plain).size;
      const ageEnc = timeAge(['-e', '-r', recipient, '-o', join(root, `age-${size}.age`), plain]);
      const ageDec = timeAge(['-d', '-i', identityFile, '-o', '/dev/null', file]);
      // The append floor and the import alternate, twice each, each into a fresh vault, and the
      // faster of each counts: one run of either moved by 1.5x between quiet runs (the disk's
      // state, the page cache), which made their ratio a coin toss. Loop delay and peak RSS take
      // the worse of the two imports.
      const imports: ChildResult[] = [];
      const floors: ChildResult[] = [populate];
      for (let run = 0; run < 2; run++) {
        if (run > 0) {
          const floorDir = join(root, `f-${size}`);
          floors.push(runChild('populate', [floorDir, String(size)]));
          rmSync(floorDir, { recursive: true, force: true });
        }
        const importDir = join(root, `i-${size}`);
        imports.push(runChild('import', [importDir, file, identity]));
        rmSync(importDir, { recursive: true, force: true });
      }
      const appendFloor = fastest(floors);
      const imp: ChildResult = {
        ...fastest(imports),
        maxRssMiB: Math.max(...imports.map((r) => r.maxRssMiB)),
        loopP99Ms: Math.max(...imports.map((r) => r.loopP99Ms ?? 0)),
        loopMaxMs: Math.max(...imports.map((r) => r.loopMaxMs ?? 0)),
      };
      const seconds = (runs: ChildResult[]): string => runs.map((r) => (r.ms / 1000).toFixed(2)).join(' / ');
      const msRuns = (pick: (r: ChildResult) => number | undefined): string => imports.map((r) => Math.round(pick(r) ?? 0)).join(' / ');
      // The import's last turn, split (each run): its COMMIT, and the checkpoint after it (in the
      // same turn before stop 25, in a later one since).
      const runsParams = { floor_runs_s: seconds(floors), import_runs_s: seconds(imports), import_resolved_runs_s: imports.map((r) => ((r.resolvedMs ?? r.ms) / 1000).toFixed(2)).join(' / '), ratio_until_resolved: ratioOf(Math.min(...imports.map((r) => r.resolvedMs ?? r.ms)), appendFloor.ms, false), floor_tail_checkpoint_ms_runs: floors.map((r) => Math.round(r.checkpointMs ?? 0)).join(' / '), import_rss_runs_mib: imports.map((r) => Math.round(r.maxRssMiB)).join(' / '), commit_ms_runs: msRuns((r) => r.commitMs), checkpoint_ms_runs: msRuns((r) => r.checkpointMs), wal_mb: Math.round((imp.walBytes ?? 0) / 1e5) / 10 };
      const params = { messages: size, plaintext_mb: Math.round(plainBytes / 1e5) / 10 };
      emit({ bench: 'backup.export', value: mbps(plainBytes, exp.ms), unit: 'MB/s', baseline: mbps(plainBytes, ageEnc), ratio: ratioOf(exp.ms, ageEnc, false), params, target: 'information since issue 18 (was ratio >= 0.5; baseline: age -e, same stream)' });
      emit({ bench: 'backup.import', value: mbps(plainBytes, imp.ms), unit: 'MB/s', baseline: mbps(plainBytes, ageDec), ratio: ratioOf(imp.ms, ageDec, false), params, target: 'information since issue 18 (was ratio >= 0.5; baseline: age -d, same file)' });
      const cpuRatio = (value: number | undefined, floor: number | undefined): number => ratioOf(value ?? 0, floor ?? 0, false);
      const loopParams = (r: ChildResult): Record<string, number> => ({ loop_p99_ms: r.loopP99Ms ?? 0, loop_max_ms: r.loopMaxMs ?? 0, ...(r.mainCpuMs !== undefined ? { main_thread_cpu_ms: Math.round(r.mainCpuMs) } : {}) });
      emit({ bench: 'backup.export_vs_vault_read', value: mbps(plainBytes, exp.ms), unit: 'MB/s', baseline: mbps(plainBytes, exp.floorMs ?? 0), ratio: ratioOf(exp.ms, exp.floorMs ?? 0, false), params: { ...params, seconds: Math.round(exp.ms / 10) / 100, cpu_ratio: cpuRatio(exp.cpuMs, exp.floorCpuMs), main_thread_cpu_ratio: cpuRatio(exp.mainCpuMs, exp.floorCpuMs), ...loopParams(exp) }, target: 'ratio >= 0.8 (issue 18: of the vault read floor, same run); loop p99 <= 50 ms, max <= 200 ms' });
      emit({ bench: 'backup.export_one_thread_vs_vault_read', value: mbps(plainBytes, exp.oneThreadMs ?? 0), unit: 'MB/s', baseline: mbps(plainBytes, exp.floorMs ?? 0), ratio: ratioOf(exp.oneThreadMs ?? 0, exp.floorMs ?? 0, false), params: { ...params, seconds: Math.round((exp.oneThreadMs ?? 0) / 10) / 100 }, target: 'information: export without its worker thread (as before), same run' });
      // What bounds backup.export_vs_vault_read: reading plus encoding the lines alone, against the
      // read floor (no export can do better than this ratio), and export against that bound.
      emit({ bench: 'backup.export_bound_read_encode_vs_vault_read', value: mbps(plainBytes, exp.readEncodeMs ?? 0), unit: 'MB/s', baseline: mbps(plainBytes, exp.floorMs ?? 0), ratio: ratioOf(exp.readEncodeMs ?? 0, exp.floorMs ?? 0, false), params: { ...params, cpu_ratio: cpuRatio(exp.readEncodeCpuMs, exp.floorCpuMs) } });
      emit({ bench: 'backup.export_vs_read_encode', value: mbps(plainBytes, exp.ms), unit: 'MB/s', baseline: mbps(plainBytes, exp.readEncodeMs ?? 0), ratio: ratioOf(exp.ms, exp.readEncodeMs ?? 0, false), params: { ...params, cpu_ratio: cpuRatio(exp.cpuMs, exp.readEncodeCpuMs) } });
      emit({ bench: 'backup.import_vs_vault_append', value: mbps(plainBytes, imp.ms), unit: 'MB/s', baseline: mbps(plainBytes, appendFloor.ms), ratio: ratioOf(imp.ms, appendFloor.ms, false), params: { ...params, seconds: Math.round(imp.ms / 10) / 100, cpu_ratio: cpuRatio(imp.cpuMs, appendFloor.cpuMs), ...loopParams(imp), ...runsParams }, target: 'ratio >= 0.8 (issue 18: of the vault append floor, same run); loop p99 <= 50 ms, max <= 200 ms' });
      // What bounds import_vs_vault_append on one thread: reading and checking every line
      // (verifyBackup alone) plus appending it. The one-pass import does both once; it beats this
      // only by what its one transaction saves over the floor's committed batches.
      emit({ bench: 'backup.import_bound_append_plus_verify_vs_vault_append', value: mbps(plainBytes, appendFloor.ms + (imp.verifyMs ?? 0)), unit: 'MB/s', baseline: mbps(plainBytes, appendFloor.ms), ratio: ratioOf(appendFloor.ms + (imp.verifyMs ?? 0), appendFloor.ms, false), params: { ...params, verify_ms: Math.round(imp.verifyMs ?? 0) }, target: 'information: the append floor plus reading and checking the file once (before the one-pass import, its bound)' });
      // What bounds the checkpoint's turn (information): writing as many bytes as the -wal held
      // at the COMMIT to a scratch file, and its fsync, same process, after the import: the
      // checkpoint copies those pages into vault.db and fsyncs it, on the connection's thread.
      const boundMs = (r: ChildResult): number => (r.boundWriteMs ?? 0) + (r.boundFsyncMs ?? 0);
      emit({ bench: 'backup.import_checkpoint_bound_write_fsync', value: Math.round(Math.min(...imports.map(boundMs))), unit: 'ms', baseline: Math.round(Math.min(...imports.map((r) => r.checkpointMs ?? 0))), ratio: ratioOf(Math.min(...imports.map(boundMs)), Math.min(...imports.map((r) => r.checkpointMs ?? 0)), false), params: { ...params, wal_mb: Math.round((imp.walBytes ?? 0) / 1e5) / 10, write_ms_runs: msRuns((r) => r.boundWriteMs), fsync_ms_runs: msRuns((r) => r.boundFsyncMs), checkpoint_ms_runs: msRuns((r) => r.checkpointMs) }, target: 'information: a plain write + fsync of the -wal\'s bytes (value) vs the checkpoint after the import (baseline): the floor of that turn' });
      // Ceilings: the vault's own floors (reading every message; appending the same history)
      // against `age`. No export or import can beat the vault it reads from or writes to, so
      // these ratios bound backup.export and backup.import whatever the backup layer does.
      emit({ bench: 'backup.export_ceiling_vault_read_vs_age', value: mbps(plainBytes, exp.floorMs ?? 0), unit: 'MB/s', baseline: mbps(plainBytes, ageEnc), ratio: ratioOf(exp.floorMs ?? 0, ageEnc, false), params });
      emit({ bench: 'backup.import_ceiling_vault_append_vs_age', value: mbps(plainBytes, appendFloor.ms), unit: 'MB/s', baseline: mbps(plainBytes, ageDec), ratio: ratioOf(appendFloor.ms, ageDec, false), params });
      if (size === sizes[0]) {
        // Runs last on this profile: it writes a state row for every message.
        const plainRead = runChild('read', [profile, 'none']);
        const statesRead = runChild('read', [profile, 'states']);
        emit({
          bench: 'backup.vault_read_all_states_updated',
          value: mbps(plainBytes, statesRead.ms),
          unit: 'MB/s',
          baseline: mbps(plainBytes, plainRead.ms),
          ratio: ratioOf(statesRead.ms, plainRead.ms, false),
          params,
        });
      }
      // Export's peak RSS: the median of three one-export processes. One sample moved by 70 MiB
      // at 1M (1.315x in one full run of three, 1.085x / 1.037x in the others) while the heap
      // after a GC was the same 20 MiB at 100k and 1M: the collector's timing, not what is kept.
      const rssRuns = [0, 1, 2].map(() => runChild('export-rss', [profile, join(root, `rss-${size}.age`), recipient]).maxRssMiB).sort((a, b) => a - b);
      rmSync(join(root, `rss-${size}.age`), { force: true });
      exportRssRuns.push(rssRuns.map((r) => Math.round(r)).join(' / '));
      rss.export.push(rssRuns[1] as number);
      rss.import.push(imp.maxRssMiB);
      for (const p of [profile, join(root, `i-${size}`), file, plain, join(root, `age-${size}.age`)]) rmSync(p, { recursive: true, force: true });
    }
    const [small, large] = sizes as [number, number];
    for (const kind of ['export', 'import'] as const) {
      const [a, b] = rss[kind] as [number, number];
      emit({
        bench: `backup.${kind}_peak_rss`,
        value: Math.round(b),
        unit: 'MiB',
        baseline: Math.round(a),
        ratio: Math.round((b / a) * 1000) / 1000,
        params: { messages: large, baseline_messages: small, ...(kind === 'export' ? { runs_mib: exportRssRuns.join(' | '), of: 'median of three one-export processes per size' } : {}) },
        target: `value within 1.3x of baseline (ratio <= 1.3; here ratio = large/small)`,
      });
    }
    await layerOnly(root, sizes[0] === 10_000 ? 100_000 : 300_000, recipient, identity, identityFile);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === here && process.argv[2] === '--child') {
  const result = await child(process.argv[3] ?? '', process.argv.slice(4));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
