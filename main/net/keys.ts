// Typed calls of the relay's prekey methods (relay/keys.ts). Bytes in, bytes out: encoding and
// decoding of the bundles is main/e2e's job; this only checks the shape of the relay's answers.
import { z } from 'zod';
import type { RelayClient } from './client.ts';

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array);
const Counts = z.object({
  preKeys: z.number().int().nonnegative(),
  kyberPreKeys: z.number().int().nonnegative(),
  hasIdentity: z.boolean(),
  signedPreKeyId: z.number().int().nonnegative(),
});
const UploadResult = z.object({ reRegistered: z.boolean() });
const UploadOneTimeResult = z.object({ preKeys: z.number().int().nonnegative(), kyberPreKeys: z.number().int().nonnegative() });
const FetchResult = z.object({ bundle: bytes });

export type RelayKeyCounts = z.infer<typeof Counts>;

export class RelayKeys {
  constructor(private readonly client: RelayClient) {}

  /** Identity key, signed prekey and Kyber last-resort prekey (an encoded IdentityUpload). */
  async uploadIdentity(identity: Uint8Array): Promise<{ reRegistered: boolean }> {
    return UploadResult.parse(await this.client.call('keys.upload', { identity }));
  }

  /** One chunk of one-time prekeys (an encoded OneTimePreKeysUpload); returns the relay's counts after it. */
  async uploadOneTime(keys: Uint8Array): Promise<{ preKeys: number; kyberPreKeys: number }> {
    return UploadOneTimeResult.parse(await this.client.call('keys.uploadOneTime', { keys }));
  }

  async count(): Promise<RelayKeyCounts> {
    return Counts.parse(await this.client.call('keys.count', {}));
  }

  /** An encoded PreKeyBundleWire of `handle`; each one-time key in it is handed out only this once. */
  async fetch(handle: string): Promise<Uint8Array> {
    return FetchResult.parse(await this.client.call('keys.fetch', { handle })).bundle;
  }
}
