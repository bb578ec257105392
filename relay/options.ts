// What a relay is started with (the `ephemera-relay` flags map onto these). Kept apart from the
// relay so the CLI, the tests and the helpers that only pass options along need not read it.
export interface RelayOptions {
  dataDir: string;
  host?: string;
  port?: number;
  /** Longest temp key lifetime a bind may ask for. Default 25 h (clients pick 23-24 h). */
  maxTtlSec?: number;
  /** An unbound temp key is forgotten after this long. */
  unboundTtlMs?: number;
  handshakesPerSecond?: number;
  handshakeBurst?: number;
  /**
   * First binds of unknown permanent keys (each adds a row to the relay's disk) per source
   * address: sustained per minute, and burst. Defaults 10 and 100.
   */
  newDevicesPerMinute?: number;
  newDeviceBurst?: number;
  /** Envelopes waiting per account. */
  queueLimit?: number;
  /** Largest attachment file (plaintext bytes) a blob may hold. Default 100 MiB. */
  blobMaxFileBytes?: number;
  /** Sealed attachment bytes one account may keep at the relay at a time. Default 1 GiB. */
  blobQuotaBytes?: number;
  /** An attachment blob is deleted this long after it was created, fetched or not. Default 30 days. */
  blobTtlMs?: number;
  /** Open connections per source address (IPv6: per /64). Default 128. */
  maxConnectionsPerAddress?: number;
  /** A connection that has not bound a temp key this long after TCP accept is closed. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** A bound connection without a frame from the client this long is closed (clients ping every 30 s). Default 120 s. */
  idleTimeoutMs?: number;
  /** Handle lookups (`resolve`) per device: sustained per minute, and burst. Defaults 60 and 100. */
  lookupsPerMinute?: number;
  lookupBurst?: number;
  /** The same lookups per source address (IPv6: per /64), so new devices do not buy new budget. Defaults 240 and 400. */
  addressLookupsPerMinute?: number;
  addressLookupBurst?: number;
  /** Bind nonces remembered (oldest evicted beyond this). Default 2,000,000. */
  maxBindNonces?: number;
  /** Bound temp keys kept without a connection (oldest forgotten beyond this; they get 404). Default 200,000. */
  maxIdleBoundKeys?: number;
  /**
   * How often idempotency records older than their retention are deleted (also once at start,
   * so a relay that restarts more often than this still prunes). Default 1 h.
   */
  idempotencyPruneIntervalMs?: number;
  /**
   * SQLite: idempotency records kept in memory (relay/idem-log.ts), ~105-205 bytes each; past
   * this many, new records are looked up on disk (slower sends, nothing refused). Default 1,000,000.
   */
  idempotencyMemoryKeys?: number;
  /**
   * Longest an envelope waits in the queue; expired ones are never delivered and are purged
   * (relay/expiry.ts). A sender's `ttl` may only shorten it. Default 30 days.
   */
  envelopeTtlMs?: number;
  /** How often expired envelopes are purged (also once at start). Default 60 s. */
  envelopePurgeIntervalMs?: number;
  clock?: () => number;
  log?: (event: Record<string, unknown>) => void;
  /**
   * An fsync failed (logged as `sync-failed`): the relay answers every write INTERNAL from then on,
   * since only a restart learns what the disk really holds. Called once, after the requests
   * waiting for that fsync were answered; the command line exits non-zero here so a supervisor
   * restarts it (docs/operations.md).
   */
  onDurabilityLost?: (e: unknown) => void;
  /**
   * The URLs clients use, when they differ from the listening address (a cluster's nodes, a
   * public name): the descriptor lists them all, its `url` is the first. Same list, same files:
   * the same descriptor on every node.
   */
  advertise?: readonly string[];
  /**
   * postgres://… : run as a node of a cluster whose devices, prekeys, queue and idempotency
   * records are in that PostgreSQL database (shared by every node); DIR then holds only the
   * identity, the certificate and the descriptor. Without it: DIR/relay.db (SQLite).
   */
  database?: string;
}
