// `npm run bench -- attachments [--quick]` (issue #15): one file uploaded through the relay's
// blob methods and downloaded by a second client (main/net/attachments.ts: sealed chunks, one
// put or get per 64 KiB chunk) against the same bytes both ways over a plain TLS socket with
// the relay's TLS settings, in the same run; and the clients' process's peak RSS growth during
// the transfer (the file is never held whole: it should stay flat as the file grows). The relay
// runs as its own process (the CLI), as deployed; the plain socket's two ends share this one.
// Then a backup of a profile holding one such file, exported and imported (main/backup with the
// attachment section): peak RSS growth of each at two file sizes, which should not grow with it.
// Flatness (issue #15: "flat from 64 MiB to 1 GiB"): the same transfer of a 64 MiB and of a
// 1 GiB file, the large one sparse (read as zeros: the same sealing and transfer work, no 1 GiB
// of random bytes written first); quick: 8 MiB against the main 32 MiB transfer.
// The pipeline floor (bench/floor-attachments.ts): sender, minimal relay and receiver as three
// processes doing only the work any design must, on the same file in the same run: its ratio to
// plain TLS bounds #15's goal on this machine, the transfer's ratio to it is Ephemera's own gap.
// Information beside them: the floor (the clients' TLS ends plus the crypto they must do: the
// stream AEAD, the digest on both sides, the record AEAD), whose ratio bounds the transfer's; CPU
// per MiB moved of the relay process and of the clients against the plain socket's two ends; the
// clients' garbage collection time; the 1-minute load average (the machine may be shared).
// The clients' peak RSS growth is mostly 64 KiB buffers already dead (crypto outputs, frames,
// TLS reads) that wait for a major collection: the transfer keeps about 10 MiB live (32 puts or
// gets in flight, a 2 MiB checkpoint group sealed ahead and its read buffer), the rest is V8's
// pace, which grows with the process's heap, not with the file.
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { constants as perfConstants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { join } from 'node:path';
import { constants, createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type TlsOptions, type TLSSocket } from 'node:tls';
import { RelayClient } from '../main/net/client.ts';
import { downloadBlob, uploadFile } from '../main/net/attachments.ts';
import { PermanentKey } from '../main/net/permanent-key.ts';
import { MemoryOutboxStore, MemoryPermanentKeyStore } from '../main/net/stores.ts';
import { freePort, RelayProcess } from '../test/chaos/relay-process.ts';
import type { RelayDescriptor } from '../shared/protocol/descriptor.ts';
import { decodeFrame, type RecordFrame } from '../shared/protocol/frames.ts';
import { RecordEndpoint } from '../shared/protocol/record.ts';
import { openChunk, sealChunk, streamLayout, STREAM_CHUNK_BYTES } from '../shared/protocol/stream.ts';
import { emit, ratioOf, type BenchOptions } from './report.ts';
import { TEST_KDF, Vault } from '../main/vault/index.ts';
import { exportBackup, importBackup } from '../main/backup/index.ts';
import { ATTACHMENT_CHUNKS, MESSAGE_ATTACHMENTS, chunkKey, writeRecord } from '../main/messenger/attachment-store.ts';
import { attachmentSink, attachmentSource } from '../main/messenger/backup-attachments.ts';
import { collectGarbage } from '../main/collect-garbage.ts';
import { attachmentPipelineFloor, type PipelineFloor } from './floor-attachments.ts';

const MiB = 1024 * 1024;
/** The relay's TLS settings (relay/relay.ts), for the plain socket the transfer is measured against. */
const RELAY_TLS: TlsOptions = {
  minVersion: 'TLSv1.2',
  ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305',
  honorCipherOrder: true,
  ecdhCurve: 'X25519:prime256v1',
  secureOptions: constants.SSL_OP_NO_TICKET,
};

/** A file of `size` random-looking bytes, written in 1 MiB pieces (never whole in memory). */
function writeFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  const piece = randomBytes(MiB);
  for (let done = 0; done < size; done += MiB) writeSync(fd, piece, 0, Math.min(MiB, size - done));
  closeSync(fd);
}

/** A sparse file of `size` bytes (zeros, no blocks written). */
function writeSparseFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  closeSync(fd);
}

/** Peak RSS growth over the run of `fn` above `start` (default: RSS when it starts), sampled every 20 ms. */
async function peakRssGrowth<T>(fn: () => Promise<T>, start = process.memoryUsage().rss): Promise<{ result: T; growth: number }> {
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growth: peak - start };
  } finally {
    clearInterval(timer);
  }
}

/** CPU seconds of this process (every thread) while `fn` runs: on a shared machine a steadier measure than wall time. */
async function cpuSeconds<T>(fn: () => Promise<T>): Promise<{ result: T; cpu: number }> {
  const c0 = process.cpuUsage();
  const result = await fn();
  const c = process.cpuUsage(c0);
  return { result, cpu: (c.user + c.system) / 1e6 };
}

/**
 * CPU seconds (user + system, every thread) another process has used so far, from Linux's
 * /proc/PID/stat (clock ticks of USER_HZ, 100 on Linux); null where that cannot be read.
 */
function processCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is the first; utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / 100 : null;
  } catch {
    return null;
  }
}

/** Milliseconds this process spent in garbage collection while `fn` ran, and how many major collections. */
async function gcTime<T>(fn: () => Promise<T>): Promise<{ result: T; gcMs: number; majors: number }> {
  let gcMs = 0;
  let majors = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) majors++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  try {
    const result = await fn();
    // Entries are delivered on a later turn.
    await new Promise((r) => setImmediate(r));
    return { result, gcMs, majors };
  } finally {
    obs.disconnect();
  }
}

/**
 * Seconds of the work the clients of an attachment transfer cannot skip on top of TLS, for a
 * file of `size`: each chunk sealed and opened (the stream AEAD), hashed on both sides (the
 * digest), and sealed (up) and opened (down) in the record layer under the temp key.
 */
function requiredCryptoSeconds(size: number): number {
  const layout = streamLayout(size);
  const material = { id: randomBytes(8), c2s: randomBytes(32), s2c: randomBytes(32), transcriptHash: randomBytes(32) };
  const sender = new RecordEndpoint(material, 'client', Date.now, randomBytes(8));
  const receiver = new RecordEndpoint(material, 'relay', Date.now);
  const key = randomBytes(32);
  const plain = randomBytes(STREAM_CHUNK_BYTES);
  const up = createHash('sha256');
  const down = createHash('sha256');
  const t0 = performance.now();
  for (let i = 0; i < layout.chunks; i++) {
    const last = i === layout.chunks - 1;
    const sealed = sealChunk(key, i, last, plain);
    up.update(sealed);
    const record = receiver.open(decodeFrame(sender.seal(sealed)) as RecordFrame);
    if (!record) throw new Error('record does not open');
    down.update(record.body);
    if (!openChunk(key, i, last, record.body)) throw new Error('chunk does not open');
  }
  up.digest();
  down.digest();
  return (performance.now() - t0) / 1000;
}

/** Seconds to move `size` bytes client -> server and back over one TLS connection, 64 KiB writes. */
async function plainTls(key: string, cert: string, size: number): Promise<number> {
  const server = createServer({ ...RELAY_TLS, key, cert }, (s: TLSSocket) => {
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got === size) void sendAll(s, size).then(() => s.end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => void sendAll(c, size));
    let back = 0;
    c.on('data', (d: Buffer) => {
      back += d.length;
      if (back === size) {
        c.end();
        resolve();
      }
    });
    c.on('error', reject);
  });
  const seconds = (performance.now() - t0) / 1000;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return seconds;
}

async function sendAll(s: TLSSocket, size: number): Promise<void> {
  const chunk = randomBytes(64 * 1024);
  for (let sent = 0; sent < size; sent += chunk.length) {
    if (!s.write(chunk.subarray(0, Math.min(chunk.length, size - sent)))) await new Promise((r) => s.once('drain', r));
  }
}

async function client(descriptor: RelayDescriptor, handle: string): Promise<RelayClient> {
  const permanentKey = await PermanentKey.loadOrCreate(new MemoryPermanentKeyStore());
  const c = new RelayClient({ descriptor, permanentKey, outbox: new MemoryOutboxStore() });
  await c.start();
  await c.call('register', { handle });
  return c;
}

/** A profile holding one downloaded file of `size` bytes, sealed in 64 KiB chunks as the messenger keeps it. */
async function profileWithFile(dir: string, size: number): Promise<Vault> {
  const { vault } = await Vault.create(dir, 'bench password 1234', { kdf: TEST_KDF });
  vault.appendMessages([{ id: 'm-file', conversationId: 'v-1', direction: 'in', sender: 'c-1', sentAt: 1, receivedAt: 1, text: 'a file', state: 'received' }]);
  const piece = randomBytes(64 * 1024);
  const chunks = Math.ceil(size / piece.length);
  for (let first = 0; first < chunks; first += 64) {
    vault.transaction(() => {
      for (let i = first; i < Math.min(chunks, first + 64); i++) vault.kvSet(ATTACHMENT_CHUNKS, chunkKey('att_bench', i), piece.subarray(0, Math.min(piece.length, size - i * piece.length)));
    });
  }
  vault.transaction(() => {
    writeRecord(vault, { id: 'att_bench', messageId: 'm-file', name: 'bench.bin', type: '', size, blob: randomBytes(16).toString('base64url'), key: randomBytes(32).toString('base64url'), digest: randomBytes(32).toString('base64url'), downloaded: true });
    vault.kvSet(MESSAGE_ATTACHMENTS, 'm-file', Buffer.from('att_bench'));
  });
  return vault;
}

/** Export and import of a backup holding one file of each size: peak RSS growth of each. */
async function backupRss(dir: string, sizes: readonly number[]): Promise<void> {
  const growth: Record<'export' | 'import', number[]> = { export: [], import: [] };
  const keys = { passphrase: 'bench passphrase', workFactor: 10 };
  for (const size of sizes) {
    const source = await profileWithFile(join(dir, `backup-source-${size}`), size);
    const file = join(dir, `backup-${size}.age`);
    try {
      growth.export.push((await peakRssGrowth(() => exportBackup(source, file, { keys, attachments: attachmentSource(source), signingKey: null }))).growth);
    } finally {
      source.lock();
    }
    const target = (await Vault.create(join(dir, `backup-target-${size}`), 'bench password 1234', { kdf: TEST_KDF })).vault;
    try {
      growth.import.push((await peakRssGrowth(() => importBackup(target, file, { keys, trustUnsigned: true, attachments: attachmentSink(target) }))).growth);
    } finally {
      target.lock();
    }
  }
  for (const phase of ['export', 'import'] as const) {
    const [small, large] = growth[phase].map((g) => Math.round((g / MiB) * 10) / 10) as [number, number];
    emit({ bench: `attachments.backup_${phase}_peak_rss_growth`, value: large, unit: 'MiB', baseline: small, ratio: small > 0 ? Math.round((large / small) * 100) / 100 : null, params: { fileMiB: sizes[1]! / MiB, baselineFileMiB: sizes[0]! / MiB }, target: 'flat: about the same at both file sizes' });
  }
}

export async function main(o: BenchOptions): Promise<void> {
  const size = (o.quick ? 32 : 256) * MiB;
  const dir = mkdtempSync(join(tmpdir(), 'ephemera-bench-attachments-'));
  // The relay in a process of its own, as deployed: this process is the two clients, so its RSS
  // growth is a client's and the relay does not share its event loop.
  // --blob-max-file: the flatness run's 1 GiB file.
  const relay = await RelayProcess.start(join(dir, 'relay'), await freePort(), ['--blob-max-file', String(2 * 1024 * MiB), '--blob-quota', String(4 * 1024 * MiB)]);
  const alice = await client(relay.descriptor, 'alice');
  const bob = await client(relay.descriptor, 'bob');
  try {
    // One transfer: upload by alice, download by bob, the blob released after. Peak RSS growth is
    // taken above `rssStart`, this process's RSS before its first transfer (a full collection
    // runs before each), so a later transfer also counts whatever an earlier one left behind.
    const transfer = async (path: string, fileSize: number, rssStart: number) => {
      await collectGarbage();
      return gcTime(() => cpuSeconds(() => peakRssGrowth(async () => {
        const t0 = performance.now();
        const ref = await uploadFile(alice, path, ['bob']);
        let got = 0;
        await downloadBlob(bob, ref, (plain) => {
          got += plain.length;
        });
        if (got !== fileSize) throw new Error('short download');
        const seconds = (performance.now() - t0) / 1000;
        await bob.call('blob.done', { id: ref.blobId });
        return seconds;
      }, rssStart)));
    };
    const [smallSize, largeSize] = o.quick ? [8 * MiB, 32 * MiB] : [64 * MiB, 1024 * MiB];
    const small = join(dir, 'small.bin');
    writeFile(small, smallSize);
    const file = join(dir, 'file.bin');
    writeFile(file, size);
    const large = join(dir, 'large.bin');
    if (!o.quick) writeSparseFile(large, largeSize);
    const load = Math.round(loadavg()[0]! * 100) / 100;
    const rssStart = process.memoryUsage().rss;
    const smallRun = await transfer(small, smallSize, rssStart);
    const relayCpuBefore = processCpuSeconds(relay.child.pid);
    const mainRun = await transfer(file, size, rssStart);
    const relayCpuAfter = processCpuSeconds(relay.child.pid);
    const { result: { result: { result: seconds, growth }, cpu }, gcMs, majors } = mainRun;
    const largeRun = o.quick ? mainRun : await transfer(large, largeSize, rssStart);
    rmSync(large, { force: true });
    const tlsKey = readFileSync(join(dir, 'relay', 'tls-key.pem'), 'utf8');
    const tlsCert = readFileSync(join(dir, 'relay', 'tls-cert.pem'), 'utf8');
    const { result: baselineSeconds, cpu: baselineCpu } = await cpuSeconds(() => plainTls(tlsKey, tlsCert, size));
    // The pipeline floor (bench/floor-attachments.ts) on the same file, right after the plain
    // socket: with the receiver keeping the chunks as the messenger does, and without (what the
    // transfer above does: downloadBlob hands the chunks to a counter).
    const [floorStored, floorBare] = await attachmentPipelineFloor({ dir, key: tlsKey, cert: tlsCert, file, size, storeAtReceiver: [true, false] }) as [PipelineFloor, PipelineFloor];
    // The clients' share of the plain transfer (one TLS end each way: half of it) plus their
    // required crypto; the relay's share runs beside it in its own process.
    const floorSeconds = baselineSeconds / 2 + requiredCryptoSeconds(size);
    const mbps = (2 * size) / MiB / seconds;
    const baseline = (2 * size) / MiB / baselineSeconds;
    emit({ bench: 'attachments.upload_download', value: Math.round(mbps * 10) / 10, unit: 'MiB/s', baseline: Math.round(baseline * 10) / 10, ratio: ratioOf(mbps, baseline, true), params: { fileMiB: size / MiB, loadAverage1m: load }, target: 'ratio >= 0.5 against a plain TLS socket' });
    // The best the transfer could do when the clients' thread is what limits it: its TLS ends
    // plus the stream AEAD, the digests and the record AEAD, nothing else.
    const floor = (2 * size) / MiB / floorSeconds;
    emit({ bench: 'attachments.upload_download_floor', value: Math.round(floor * 10) / 10, unit: 'MiB/s', baseline: Math.round(baseline * 10) / 10, ratio: ratioOf(floor, baseline, true), params: { fileMiB: size / MiB }, target: 'information: the clients\' TLS ends plus their required crypto alone; its ratio bounds the transfer\'s while the clients\' thread limits it' });
    // What bounds the transfer on this machine in this run: the pipeline floor's three processes
    // doing only the work the transfer does (no client storage). Below 0.5 of plain TLS, #15's goal
    // cannot be met here by any design; the transfer's ratio to that floor is what is Ephemera's
    // own. The variant with the receiver's vault is what a user's download also does: information.
    const floorLine = (name: string, f: PipelineFloor, target: string): number => {
      const mibps = (2 * size) / MiB / f.seconds;
      const moved = (2 * size) / MiB;
      const ms = (cpuSeconds: number): number => Math.round(((cpuSeconds * 1000) / moved) * 100) / 100;
      emit({ bench: name, value: Math.round(mibps * 10) / 10, unit: 'MiB/s', baseline: Math.round(baseline * 10) / 10, ratio: ratioOf(mibps, baseline, true), params: { fileMiB: size / MiB, relayMsPerMiB: ms(f.relayCpu), senderMsPerMiB: ms(f.senderCpu), receiverMsPerMiB: ms(f.receiverCpu), loadAverage1m: Math.round(loadavg()[0]! * 100) / 100 }, target });
      return mibps;
    };
    floorLine('attachments.floor_pipeline', floorStored, 'information: sender, minimal relay, receiver as three processes; the receiver also keeps the chunks sealed in its vault, as a user\'s download does (the transfer above keeps nothing, so this does not bound it)');
    const bareMiBps = floorLine('attachments.floor_pipeline_no_client_storage', floorBare, '>= 0.5 of plain TLS (issue #15); this floor bounds any design: the same three processes doing only the work the transfer above does (its download keeps nothing)');
    emit({ bench: 'attachments.upload_download_vs_floor', value: Math.round(mbps * 10) / 10, unit: 'MiB/s', baseline: Math.round(bareMiBps * 10) / 10, ratio: ratioOf(mbps, bareMiBps, true), params: { fileMiB: size / MiB }, target: 'information: the transfer against the pipeline floor without client storage (the same work); 1 would mean nothing of the gap to plain TLS is Ephemera\'s own' });
    // The same transfers per CPU second of this process (the two clients; the relay's own CPU is
    // not counted, the plain socket's server is): steadier than wall time on a shared machine.
    const perCpu = (2 * size) / MiB / cpu;
    const baselinePerCpu = (2 * size) / MiB / baselineCpu;
    emit({ bench: 'attachments.upload_download_per_cpu_second', value: Math.round(perCpu * 10) / 10, unit: 'MiB/CPU-s', baseline: Math.round(baselinePerCpu * 10) / 10, ratio: ratioOf(perCpu, baselinePerCpu, true), params: { fileMiB: size / MiB }, target: 'information: the clients\' CPU cost against a plain TLS socket\'s both ends' });
    // Where the CPU goes, per MiB moved (each way counts): the relay process (it does not share
    // the clients' thread; its own line, as the clients' per-CPU line leaves it out) and the two
    // clients, against the plain socket's two ends.
    const movedMiB = (2 * size) / MiB;
    const perMiB = (seconds: number): number => Math.round(((seconds * 1000) / movedMiB) * 100) / 100;
    const relayCpu = relayCpuBefore !== null && relayCpuAfter !== null ? relayCpuAfter - relayCpuBefore : null;
    if (relayCpu !== null) emit({ bench: 'attachments.relay_cpu_per_mib', value: perMiB(relayCpu), unit: 'ms/MiB', baseline: perMiB(baselineCpu), ratio: relayCpu > 0 ? Math.round((baselineCpu / relayCpu) * 1000) / 1000 : null, params: { fileMiB: size / MiB, clientsMsPerMiB: perMiB(cpu), loadAverage1m: Math.round(loadavg()[0]! * 100) / 100 }, target: 'information: the relay process\'s CPU per MiB moved (no line where /proc cannot be read) and the clients\' (params) against the plain TLS socket\'s two ends (baseline); ratio = baseline / value. Issue #15\'s 0.5 of plain TLS needs each process near 4-5 ms/MiB' });
    // Most of what the clients allocate per chunk is 64 KiB buffers (crypto outputs, frames) that
    // die at once; the collector frees them in major collections, so their pace sets both part
    // of the CPU cost and the RSS peak.
    emit({ bench: 'attachments.client_gc', value: Math.round(gcMs), unit: 'ms', baseline: Math.round(seconds * 1000), ratio: Math.round((gcMs / 1000 / seconds) * 1000) / 1000, params: { fileMiB: size / MiB, majorCollections: majors }, target: 'information: the clients\' garbage collection time against the transfer\'s (baseline, ms)' });
    emit({ bench: 'attachments.peak_rss_growth', value: Math.round((growth / MiB) * 10) / 10, unit: 'MiB', baseline: null, ratio: null, params: { fileMiB: size / MiB, loadAverage1m: load }, target: '<= 64 MiB, flat from 64 MiB to 1 GiB' });
    const smallGrowth = Math.round((smallRun.result.result.growth / MiB) * 10) / 10;
    const largeGrowth = Math.round((largeRun.result.result.growth / MiB) * 10) / 10;
    const largeSeconds = largeRun.result.result.result;
    emit({ bench: 'attachments.peak_rss_growth_flatness', value: largeGrowth, unit: 'MiB', baseline: smallGrowth, ratio: smallGrowth > 0 ? Math.round((largeGrowth / smallGrowth) * 100) / 100 : null, params: { fileMiB: largeSize / MiB, baselineFileMiB: smallSize / MiB, largeSparse: o.quick ? 0 : 1, largeMiBps: Math.round(((2 * largeSize) / MiB / largeSeconds) * 10) / 10, largeClientGcMs: Math.round(largeRun.gcMs), loadAverage1m: Math.round(loadavg()[0]! * 100) / 100 }, target: 'flat: the large file\'s peak RSS growth about the small one\'s (both <= 64 MiB)' });
    await backupRss(dir, o.quick ? [16 * MiB, 64 * MiB] : [64 * MiB, 256 * MiB]);
  } finally {
    await alice.stop();
    await bob.stop();
    await relay.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
