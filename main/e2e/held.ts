// Envelopes held while a contact's identity is untrusted (a changed key the user has not yet
// accepted): sealed in the vault, oldest first, one copy per envelope, at most
// MAX_HELD_PER_CONTACT per contact, released through the normal receive after acceptance.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { encodeEnvelope, type Envelope } from './envelope.ts';
import type { E2eError } from '../../shared/protocol/e2e-errors.ts';
import { NS, type E2eKv } from './kv.ts';

/** Bounds what a changed (possibly hostile) identity can make us store before the user decides. */
export const MAX_HELD_PER_CONTACT = 200;

const heldSchema = z.strictObject({
  address: z.string(),
  envelope: z.base64(),
  heldAt: z.number(),
});

export interface HeldResult<T> {
  ok: boolean;
  /** The store callback's value when ok. */
  value?: T;
  /** Why a held envelope could not be decrypted (it is dropped: it can never succeed). */
  error?: E2eError;
}

export class HeldEnvelopes {
  constructor(private readonly kv: E2eKv) {}

  /** Holds the envelope; false when the contact already has MAX_HELD_PER_CONTACT held (then it is dropped). */
  hold(address: string, envelope: Envelope, now: number): boolean {
    const encoded = encodeEnvelope(envelope);
    const digest = createHash('sha256').update(encoded).digest('hex').slice(0, 32);
    const existing = this.keys(address);
    if (existing.some((k) => k.endsWith(`-${digest}`))) return true; // a redelivery: keep one copy
    if (existing.length >= MAX_HELD_PER_CONTACT) return false;
    const last = existing.at(-1);
    const seq = last ? Number(last.split('-')[1]) + 1 : 1;
    const key = `${this.kv.addressKey(address)}-${String(seq).padStart(10, '0')}-${digest}`;
    const record = { address, envelope: Buffer.from(encoded).toString('base64'), heldAt: now };
    this.kv.setDurable(NS.held, key, new TextEncoder().encode(JSON.stringify(record)));
    return true;
  }

  /** The keys of `address`'s held envelopes, oldest first. */
  keys(address: string): string[] {
    const prefix = `${this.kv.addressKey(address)}-`;
    return this.kv
      .keys(NS.held)
      .filter((k) => k.startsWith(prefix))
      .sort();
  }

  /** The envelope held under `key` (encoded), or undefined when it is gone. */
  read(key: string): Uint8Array | undefined {
    const raw = this.kv.get(NS.held, key);
    if (!raw) return undefined;
    const held = heldSchema.parse(JSON.parse(new TextDecoder().decode(raw)));
    return new Uint8Array(Buffer.from(held.envelope, 'base64'));
  }

  drop(key: string): void {
    this.kv.delete(NS.held, key);
  }
}
