// The relay connection as the user sees it (shared/api.ts).
import { z } from 'zod';
import { Count, Timestamp } from './scalars.ts';

/** The states of the relay connection as the user sees them (DESIGN.md, Transport). */
export const ConnectionPhase = z.enum(['offline', 'connecting', 'handshaking', 'binding', 'ready', 'rebinding']);
export const ConnectionCause = z.enum([
  'locked',
  'not_registered',
  'network_error',
  /** The relay answered 404: it forgot our temp key (restart, expiry, eviction). */
  'relay_forgot_key',
  /**
   * The relay presented a TLS certificate that does not match the descriptor's pin, or signed
   * the handshake with a key other than the descriptor's identity key: someone may be in the
   * middle. The client keeps retrying; this stays the cause until a connection becomes ready.
   */
  'relay_identity_mismatch',
  /**
   * A write of the vault may not have reached the disk (a failed fsync or an I/O error): nothing
   * more goes to the relay, and nothing is acknowledged, until the vault is locked. Phase offline.
   */
  'disk_write_failed',
]);

export const ConnectionState = z.strictObject({
  phase: ConnectionPhase,
  /** Why we are not (or no longer) ready; null when nothing went wrong. */
  cause: ConnectionCause.nullable(),
  relayUrl: z.string().max(2048).nullable(),
  /** When the current temp key expires, converted to this device's clock. Never the key itself. */
  tempKeyExpiresAt: Timestamp.nullable(),
  /** Messages waiting in the outbox. */
  outboxSize: Count,
  /** When this phase began. */
  since: Timestamp,
});

export type ConnectionState = z.infer<typeof ConnectionState>;
export type ConnectionPhase = z.infer<typeof ConnectionPhase>;
