// Typed calls of the relay's prekey methods (shared/protocol/methods.ts, served by relay/keys.ts). Bytes in, bytes out: encoding and
// decoding of the bundles is main/e2e's job; the client checks the answers against the shared table.
import type { RelayResult } from '../../shared/protocol/methods.ts';
import type { RelayClient } from './client.ts';

export type RelayKeyCounts = RelayResult<'keys.count'>;

export class RelayKeys {
  constructor(private readonly client: RelayClient) {}

  /** Identity key, signed prekey and Kyber last-resort prekey (an encoded IdentityUpload). */
  async uploadIdentity(identity: Uint8Array): Promise<{ reRegistered: boolean }> {
    return this.client.call('keys.upload', { identity });
  }

  /** One chunk of one-time prekeys (an encoded OneTimePreKeysUpload); returns the relay's counts after it. */
  async uploadOneTime(keys: Uint8Array): Promise<{ preKeys: number; kyberPreKeys: number }> {
    const { preKeys, kyberPreKeys } = await this.client.call('keys.uploadOneTime', { keys });
    return { preKeys, kyberPreKeys };
  }

  async count(): Promise<RelayKeyCounts> {
    return this.client.call('keys.count', {});
  }

  /** An encoded PreKeyBundleWire of `handle`; each one-time key in it is handed out only this once (none with `oneTime: false`). */
  async fetch(handle: string, opts: { oneTime?: boolean } = {}): Promise<Uint8Array> {
    return (await this.client.call('keys.fetch', { handle, ...(opts.oneTime === false ? { oneTime: false } : {}) })).bundle;
  }
}
