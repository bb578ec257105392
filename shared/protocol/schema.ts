// Schema pieces every side of the relay contract uses: the handle rule and a zod bytes helper.
// One definition, so the relay, the client, the app's API and the UI cannot drift apart.
// Nothing here imports Node: shared/api.ts (and through it the renderer) uses HANDLE_RE.
import { z } from 'zod';

/** A user handle on the relay: 3-32 lowercase letters, digits or underscores. */
export const HANDLE_RE = /^[a-z0-9_]{3,32}$/;

/** A handle as the relay validates it (zod's own message; the app's API adds a friendlier one). */
export const handle = (): z.ZodString => z.string().regex(HANDLE_RE);

/** A byte string (any Uint8Array, so Buffers too) of `min..max` bytes; unbounded by default. */
export function bytes(min = 0, max = Number.MAX_SAFE_INTEGER): z.ZodCustom<Uint8Array, Uint8Array> {
  return z.custom<Uint8Array>((v) => v instanceof Uint8Array && v.length >= min && v.length <= max, { message: `bytes of length ${min}..${max}` });
}
