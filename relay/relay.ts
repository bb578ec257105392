// The relay: TLS WebSocket server around the relay core (core.ts); temp keys in a RAM-only Map
// with an expiry sweep (temp-keys.ts); devices and the envelope queue in SQLite, or PostgreSQL
// on a cluster node. Here: the listener, the descriptor and the periodic sweeps and prunes.
import { constants } from 'node:crypto';
import { createServer, type Server, type ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { parseDescriptor, type RelayDescriptor } from '../shared/protocol/descriptor.ts';
import { MAX_FRAME_BYTES } from '../shared/protocol/frames.ts';
import { ClusterStore } from './cluster.ts';
import { RelayCore } from './core.ts';
import { startEnvelopePurge, whenNoBatch } from './expiry.ts';
import { loadOrCreateRelayFiles, writeDescriptor } from './identity.ts';
import type { RelayOptions } from './options.ts';
import { PgStoreBackend } from './store-pg.ts';
import { RelayStore } from './store.ts';

/** TLS 1.2 suites offered: ECDHE only, so every TLS session has forward secrecy. TLS 1.3 suites are all ephemeral. */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
].join(':');

/** The relay's TLS settings (the benchmark's floor relay uses the same). */
export const RELAY_TLS_OPTIONS: ServerOptions = {
  minVersion: 'TLSv1.2',
  ciphers: TLS12_CIPHERS,
  honorCipherOrder: true,
  ecdhCurve: 'X25519:prime256v1',
  // No session resumption at all (no tickets, and Node keeps no server-side session cache):
  // every connection does a fresh ECDHE exchange. A TLS 1.2 resumption would reuse the old
  // master secret, and a ticket key in RAM would open every ticketed session it sealed.
  secureOptions: constants.SSL_OP_NO_TICKET,
};

export type { RelayOptions } from './options.ts';

/** How often the WAL is checkpointed and truncated (old frames hold acknowledged envelopes). */
const WAL_SCRUB_INTERVAL_MS = 10_000;

export interface RunningRelay {
  url: string;
  port: number;
  descriptor: RelayDescriptor;
  descriptorFile: string;
  core: RelayCore;
  close(): Promise<void>;
}

export async function startRelay(o: RelayOptions): Promise<RunningRelay> {
  const host = o.host ?? '127.0.0.1';
  const files = loadOrCreateRelayFiles(o.dataDir, host);
  // Never logged: the database URL may carry a password.
  const store = o.database
    ? new ClusterStore(await PgStoreBackend.open({ url: o.database, ...(o.log ? { log: o.log } : {}) }))
    : new RelayStore(join(o.dataDir, 'relay.db'), o.idempotencyMemoryKeys === undefined ? {} : { idempotencyMemoryKeys: o.idempotencyMemoryKeys });
  const core = new RelayCore(store, files.identity, o);
  if (store instanceof ClusterStore) await store.listen((e) => core.clusterEvent(e));
  const server: Server = createServer(
    {
      key: files.tlsKey,
      cert: files.tlsCert,
      ...RELAY_TLS_OPTIONS,
    },
    (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('WebSocket only\n');
    },
  );
  // Counted from the TCP accept, before TLS: a socket that never finishes TLS holds room too.
  server.on('connection', (socket: Socket) => core.guard.admit(socket));
  const wss = new WebSocketServer({ server, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  wss.on('connection', (ws, req) => core.accept(ws, req.socket.remoteAddress ?? 'unknown', req.socket));
  wss.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: after a restart every client reconnects within about a second.
    server.listen({ port: o.port ?? 0, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('relay has no TCP address');
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const localUrl = `wss://${urlHost}:${addr.port}`;
  const advertised = o.advertise && o.advertise.length > 0 ? [...o.advertise] : undefined;
  const descriptor: RelayDescriptor = parseDescriptor({
    version: 1,
    url: advertised?.[0] ?? localUrl,
    ...(advertised ? { urls: advertised } : {}),
    relayPublicKey: files.identity.publicRaw.toString('hex'),
    certificateSha256: files.certSha256,
  });
  const descriptorFile = writeDescriptor(o.dataDir, descriptor);
  const sweeper = setInterval(() => core.sweep(), 1000);
  const connectionSweeper = setInterval(() => core.guard.sweep(), core.guard.sweepIntervalMs);
  connectionSweeper.unref();
  const walScrubber = setInterval(() => {
    if (store instanceof RelayStore) store.scrubWal();
  }, WAL_SCRUB_INTERVAL_MS);
  walScrubber.unref();
  sweeper.unref();
  // Idempotency records (sender, key, time) are metadata on disk: pruned at every start and on a
  // schedule in relay time, whatever the uptime.
  const clock = o.clock ?? Date.now;
  const prune = (): void => {
    // SQLite refuses while a request batch is open (PurgeBusy): tried again between two.
    whenNoBatch<unknown>(() => store.pruneIdempotency(clock())).catch((e: unknown) => o.log?.({ event: 'prune-failed', error: String(e) }));
  };
  prune();
  const pruner = setInterval(prune, o.idempotencyPruneIntervalMs ?? 3600_000);
  pruner.unref();
  const purge = startEnvelopePurge(store, {
    ttlMs: core.envelopeTtlMs, clock, ...(o.envelopePurgeIntervalMs ? { intervalMs: o.envelopePurgeIntervalMs } : {}), ...(o.log ? { log: o.log } : {}),
  });
  let closed = false;
  return {
    url: localUrl,
    port: addr.port,
    descriptor,
    descriptorFile,
    core,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      clearInterval(connectionSweeper);
      clearInterval(walScrubber);
      clearInterval(pruner);
      purge.stop();
      core.shutdown();
      core.guard.closeAll();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}
