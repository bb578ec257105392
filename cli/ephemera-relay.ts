// `npm run relay -- --data DIR [--host 127.0.0.1] [--port N] [--advertise wss://HOST:PORT ...]`: runs the relay until SIGINT/SIGTERM.
import { Command, InvalidArgumentError } from 'commander';
import { IDEM_MEMORY_KEYS } from '../relay/idem-log.ts';
import { startRelay } from '../relay/relay.ts';
import { MAX_DESCRIPTOR_URLS } from '../shared/protocol/descriptor.ts';
import { jsonForTerminal } from './terminal.ts';

function int(min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError('must be a whole number');
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** A duration such as 30d, 12h, 90m or 45s, in ms, between `min` and `max` ms. */
function duration(min: number, max: number) {
  return (v: string): number => {
    const m = /^(\d{1,9})([smhd])$/.exec(v);
    if (!m) throw new InvalidArgumentError('must be a number followed by s, m, h or d (e.g. 30d)');
    const ms = Number(m[1]) * DURATION_UNITS[m[2]!]!;
    if (ms < min || ms > max) throw new InvalidArgumentError(`must be between ${min / 1000}s and ${max / 86_400_000}d`);
    return ms;
  };
}

/** Collects --advertise URLs, each checked as the descriptor will check it. */
function advertised(v: string, prev: string[]): string[] {
  if (!/^wss:\/\/[^\s/]+(\/[^\s]*)?$/.test(v)) throw new InvalidArgumentError('must be a wss:// URL');
  if (prev.includes(v)) throw new InvalidArgumentError('given twice');
  if (prev.length >= MAX_DESCRIPTOR_URLS) throw new InvalidArgumentError(`at most ${MAX_DESCRIPTOR_URLS} URLs`);
  return [...prev, v];
}

function databaseUrl(v: string): string {
  if (!/^postgres(ql)?:\/\/\S+$/.test(v)) throw new InvalidArgumentError('must be a postgres:// URL');
  return v;
}

const program = new Command()
  .name('ephemera-relay')
  .description('Ephemera relay: temp keys in RAM, devices and queued envelopes in DIR/relay.db')
  .requiredOption('--data <dir>', 'data directory (identity, TLS certificate, descriptor.json, relay.db)')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'TCP port (0 = any free port)', int(0, 65535), 8443)
  .option('--max-ttl <seconds>', 'longest temp key lifetime a bind may ask for', int(1, 7 * 86400), 25 * 3600)
  .option('--handshake-rate <n>', 'handshakes per second per source address', int(1, 1_000_000), 500)
  .option('--handshake-burst <n>', 'handshake burst per source address', int(1, 1_000_000), 2000)
  .option('--new-device-rate <n>', 'first binds of unknown permanent keys per minute per source address', int(1, 1_000_000), 10)
  .option('--new-device-burst <n>', 'burst of first binds of unknown permanent keys per source address', int(1, 10_000_000), 100)
  .option('--queue-limit <n>', 'envelopes waiting per account', int(1, 10_000_000), 10_000)
  .option('--blob-max-file <bytes>', 'largest attachment file (plaintext bytes) the relay accepts', int(1, 64 * 1024 ** 3), 100 * 1024 * 1024)
  .option('--blob-quota <bytes>', 'sealed attachment bytes one account may keep waiting at the relay', int(1, Number.MAX_SAFE_INTEGER), 1024 ** 3)
  .option('--blob-ttl <seconds>', 'an attachment blob is deleted this long after its upload began, fetched or not', int(60, 366 * 86400), 30 * 86400)
  .option('--envelope-ttl <duration>', 'longest a queued envelope waits before it is deleted undelivered (e.g. 30d, 12h)', duration(60_000, 366 * 86_400_000), 30 * 86_400_000)
  .option('--max-connections-per-address <n>', 'open connections per source address (IPv6: per /64)', int(1, 1_000_000), 128)
  .option('--handshake-timeout <ms>', 'a connection that has not bound a temp key this long after connecting is closed', int(100, 600_000), 10_000)
  .option('--idle-timeout <ms>', 'a bound connection silent this long is closed (clients ping after 30 s)', int(1000, 86_400_000), 120_000)
  .option('--lookup-rate <n>', 'handle lookups (resolve) per minute per device', int(1, 1_000_000), 60)
  .option('--lookup-burst <n>', 'burst of handle lookups per device', int(1, 1_000_000), 100)
  .option('--idempotency-memory-keys <n>', 'idempotency records kept in memory (~205 bytes each at most); past it they are looked up on disk (SQLite relay.db only)', int(0, Number.MAX_SAFE_INTEGER), IDEM_MEMORY_KEYS)
  .option('--advertise <url>', 'a wss:// URL clients use (repeat for each node of a cluster; the descriptor lists them all)', advertised, [])
  .option('--database <url>', 'postgres://… : run as a cluster node on that PostgreSQL database (default: $EPHEMERA_RELAY_DATABASE; none: DIR/relay.db)', databaseUrl)
  .parse();

const o = program.opts<{
  data: string; host: string; port: number; maxTtl: number; handshakeRate: number; handshakeBurst: number; newDeviceRate: number; newDeviceBurst: number; queueLimit: number; blobMaxFile: number; blobQuota: number; blobTtl: number; envelopeTtl: number;
  maxConnectionsPerAddress: number; handshakeTimeout: number; idleTimeout: number; lookupRate: number; lookupBurst: number; idempotencyMemoryKeys: number;
  advertise: string[];
  database?: string;
}>();

// The environment variable keeps a password off the command line (and out of `ps`).
const envDatabase = process.env.EPHEMERA_RELAY_DATABASE;
let database: string | undefined;
try {
  database = o.database ?? (envDatabase ? databaseUrl(envDatabase) : undefined);
} catch {
  process.stderr.write('EPHEMERA_RELAY_DATABASE must be a postgres:// URL\n');
  process.exit(2);
}

/** 75 (EX_TEMPFAIL): an fsync failed; a supervisor restarts the relay (docs/operations.md). */
let exitCode = 0;
const relay = await startRelay({
  dataDir: o.data,
  host: o.host,
  port: o.port,
  maxTtlSec: o.maxTtl,
  handshakesPerSecond: o.handshakeRate,
  handshakeBurst: o.handshakeBurst,
  newDevicesPerMinute: o.newDeviceRate,
  newDeviceBurst: o.newDeviceBurst,
  queueLimit: o.queueLimit,
  blobMaxFileBytes: o.blobMaxFile,
  blobQuotaBytes: o.blobQuota,
  blobTtlMs: o.blobTtl * 1000,
  envelopeTtlMs: o.envelopeTtl,
  maxConnectionsPerAddress: o.maxConnectionsPerAddress,
  handshakeTimeoutMs: o.handshakeTimeout,
  idleTimeoutMs: o.idleTimeout,
  lookupsPerMinute: o.lookupRate,
  lookupBurst: o.lookupBurst,
  idempotencyMemoryKeys: o.idempotencyMemoryKeys,
  advertise: o.advertise,
  ...(database ? { database } : {}),
  // Log lines can carry client-supplied text (handles, error details): no raw control characters.
  log: (event) => process.stderr.write(`${jsonForTerminal(event)}\n`),
  // Only a restart learns what the disk really holds: exit non-zero so a supervisor restarts it.
  onDurabilityLost: () => {
    exitCode = 75;
    process.stderr.write(`${jsonForTerminal({ event: 'exiting', reason: 'sync-failed', code: exitCode })}\n`);
    stop();
  },
});
process.stdout.write(`${JSON.stringify({ event: 'listening', url: relay.url, descriptor: relay.descriptorFile })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void relay.close().finally(() => process.exit(exitCode));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
