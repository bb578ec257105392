// The server descriptor a client pins: where the relay is, its Ed25519 identity and the
// SHA-256 of its TLS certificate.
import { z } from 'zod';

const WssUrl = z.string().regex(/^wss:\/\/[^\s/]+(\/[^\s]*)?$/);

/** Most node URLs one descriptor may list. */
export const MAX_DESCRIPTOR_URLS = 64;

export const RelayDescriptorSchema = z.object({
  version: z.literal(1),
  /** Where to connect; with `urls`, one of them (what clients that know only `url` use). */
  url: WssUrl,
  /**
   * A relay that runs as several nodes (one identity, one certificate) lists every node: the
   * client picks one at random and on a failed connection tries the next. Optional: a
   * descriptor without it is one node at `url`.
   */
  urls: z.array(WssUrl).min(1).max(MAX_DESCRIPTOR_URLS).optional(),
  /** Ed25519 public key, 64 hex chars. */
  relayPublicKey: z.string().regex(/^[0-9a-f]{64}$/),
  /** SHA-256 of the DER certificate, 64 hex chars. */
  certificateSha256: z.string().regex(/^[0-9a-f]{64}$/),
}).strict().superRefine((d, ctx) => {
  if (!d.urls) return;
  if (new Set(d.urls).size !== d.urls.length) ctx.addIssue({ code: 'custom', path: ['urls'], message: 'urls repeat' });
  if (!d.urls.includes(d.url)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'url is not one of urls' });
});

export type RelayDescriptor = z.infer<typeof RelayDescriptorSchema>;

export function parseDescriptor(input: unknown): RelayDescriptor {
  return RelayDescriptorSchema.parse(input);
}

/** The node URLs a client may connect to (an old single-url descriptor: that one). */
export function descriptorUrls(d: RelayDescriptor): readonly string[] {
  return d.urls ?? [d.url];
}
