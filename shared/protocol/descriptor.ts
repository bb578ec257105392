// The server descriptor a client pins: where the relay is, its Ed25519 identity and the
// SHA-256 of its TLS certificate.
import { z } from 'zod';

export const RelayDescriptorSchema = z.object({
  version: z.literal(1),
  url: z.string().regex(/^wss:\/\/[^\s/]+(\/[^\s]*)?$/),
  /** Ed25519 public key, 64 hex chars. */
  relayPublicKey: z.string().regex(/^[0-9a-f]{64}$/),
  /** SHA-256 of the DER certificate, 64 hex chars. */
  certificateSha256: z.string().regex(/^[0-9a-f]{64}$/),
}).strict();

export type RelayDescriptor = z.infer<typeof RelayDescriptorSchema>;

export function parseDescriptor(input: unknown): RelayDescriptor {
  return RelayDescriptorSchema.parse(input);
}
