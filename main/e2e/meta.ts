// Non-key state of the E2E layer (sealed in the vault like everything else): who we are on the
// relay, our registration id, prekey id counters and the signed-prekey rotation schedule.
import { z } from 'zod';
import { NotRegistered } from '../../shared/protocol/e2e-errors.ts';
import { NS, type E2eKv } from './kv.ts';

const META_KEY = 'state';

const retiredSchema = z.object({
  signedPreKeyId: z.number().int(),
  kyberLastResortId: z.number().int(),
  retiredAt: z.number(),
});

export const metaSchema = z.object({
  v: z.literal(1),
  /** Our address name (relay handle). */
  localName: z.string().min(1),
  deviceId: z.number().int().min(1).max(127),
  registrationId: z.number().int().min(1).max(16380),
  nextPreKeyId: z.number().int().min(1),
  nextKyberPreKeyId: z.number().int().min(1),
  nextSignedPreKeyId: z.number().int().min(1),
  signedPreKeyId: z.number().int(),
  kyberLastResortId: z.number().int(),
  /** ms since epoch the current signed prekey was made; rotation is due from this. */
  signedPreKeyCreatedAt: z.number(),
  /** Previous signed / last-resort prekeys, kept for a grace period for messages in flight. */
  retired: z.array(retiredSchema),
});
export type E2eMeta = z.infer<typeof metaSchema>;

export function readMeta(kv: E2eKv): E2eMeta {
  const raw = kv.get(NS.meta, META_KEY);
  if (!raw) throw new NotRegistered();
  return metaSchema.parse(JSON.parse(new TextDecoder().decode(raw)));
}

export function hasMeta(kv: E2eKv): boolean {
  return kv.get(NS.meta, META_KEY) !== undefined;
}

export function writeMeta(kv: E2eKv, meta: E2eMeta): void {
  kv.set(NS.meta, META_KEY, new TextEncoder().encode(JSON.stringify(metaSchema.parse(meta))));
}

/** libsignal ids are 24-bit in practice (Signal's convention); wrap inside 1..MAX_PREKEY_ID. */
export const MAX_PREKEY_ID = 0xffffff;

export function takeIds(next: number, count: number): { ids: number[]; next: number } {
  const ids: number[] = [];
  let id = next;
  for (let i = 0; i < count; i++) {
    ids.push(id);
    id = id >= MAX_PREKEY_ID ? 1 : id + 1;
  }
  return { ids, next: id };
}
