// `npm run bench -- attachments [--quick]` (issue #15): one file uploaded through the relay's
// blob methods and downloaded by a second client (main/net/attachments.ts: sealed chunks, one
// put or get per 64 KiB chunk) against the same bytes both ways over a plain TLS socket with
// the relay's TLS settings, in the same run; and the clients' process's peak RSS growth during
// the transfer (the file is never held whole: it should stay flat as the file grows). The relay
// runs as its own process (the CLI), as deployed; the plain socket's two ends share this one.
// Then a backup of a profile holding one such file, exported and imported (main/backup with the
// attachment section): peak RSS growth of each at two file sizes, which should not grow with it.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, randomBytes } from 'node:crypto';
import { connect, createServer, type TlsOptions, type TLSSocket } from 'node:tls';
import { RelayClient } from '../main/net/client.ts';
import { downloadBlob, uploadFile } from '../main/net/attachments.ts';
import { PermanentKey } from '../main/net/permanent-key.ts';
import { MemoryOutboxStore, MemoryPermanentKeyStore } from '../main/net/stores.ts';
import { freePort, RelayProcess } from '../test/chaos/relay-process.ts';
import type { RelayDescriptor } from '../shared/protocol/descriptor.ts';
import { emit, ratioOf, type BenchOptions } from './report.ts';
import { TEST_KDF, Vault } from '../main/vault/index.ts';
import { exportBackup, importBackup } from '../main/backup/index.ts';
import { ATTACHMENT_CHUNKS, MESSAGE_ATTACHMENTS, chunkKey, writeRecord } from '../main/messenger/attachment-store.ts';
import { attachmentSink, attachmentSource } from '../main/messenger/backup-attachments.ts';

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

/** Peak RSS growth over the run of `fn`, sampled every 20 ms. */
async function peakRssGrowth<T>(fn: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const start = process.memoryUsage().rss;
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
  const relay = await RelayProcess.start(join(dir, 'relay'), await freePort(), ['--blob-max-file', String(2 * 1024 * MiB), '--blob-quota', String(4 * 1024 * MiB)]);
  const alice = await client(relay.descriptor, 'alice');
  const bob = await client(relay.descriptor, 'bob');
  try {
    const file = join(dir, 'file.bin');
    writeFile(file, size);
    const { result: { result: seconds, growth }, cpu } = await cpuSeconds(() => peakRssGrowth(async () => {
      const t0 = performance.now();
      const ref = await uploadFile(alice, file, ['bob']);
      let got = 0;
      await downloadBlob(bob, ref, (plain) => {
        got += plain.length;
      });
      if (got !== size) throw new Error('short download');
      return (performance.now() - t0) / 1000;
    }));
    const { result: baselineSeconds, cpu: baselineCpu } = await cpuSeconds(() => plainTls(readFileSync(join(dir, 'relay', 'tls-key.pem'), 'utf8'), readFileSync(join(dir, 'relay', 'tls-cert.pem'), 'utf8'), size));
    const mbps = (2 * size) / MiB / seconds;
    const baseline = (2 * size) / MiB / baselineSeconds;
    emit({ bench: 'attachments.upload_download', value: Math.round(mbps * 10) / 10, unit: 'MiB/s', baseline: Math.round(baseline * 10) / 10, ratio: ratioOf(mbps, baseline, true), params: { fileMiB: size / MiB }, target: 'ratio >= 0.5 against a plain TLS socket' });
    // The same transfers per CPU second of this process (the two clients; the relay's own CPU is
    // not counted, the plain socket's server is): steadier than wall time on a shared machine.
    const perCpu = (2 * size) / MiB / cpu;
    const baselinePerCpu = (2 * size) / MiB / baselineCpu;
    emit({ bench: 'attachments.upload_download_per_cpu_second', value: Math.round(perCpu * 10) / 10, unit: 'MiB/CPU-s', baseline: Math.round(baselinePerCpu * 10) / 10, ratio: ratioOf(perCpu, baselinePerCpu, true), params: { fileMiB: size / MiB }, target: 'information: the clients\' CPU cost against a plain TLS socket\'s both ends' });
    emit({ bench: 'attachments.peak_rss_growth', value: Math.round((growth / MiB) * 10) / 10, unit: 'MiB', baseline: null, ratio: null, params: { fileMiB: size / MiB }, target: '<= 64 MiB, flat from 64 MiB to 1 GiB' });
    await backupRss(dir, o.quick ? [16 * MiB, 64 * MiB] : [64 * MiB, 256 * MiB]);
  } finally {
    await alice.stop();
    await bob.stop();
    await relay.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
