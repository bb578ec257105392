// The browser host's socket authenticates in-band, not by cookie: cookies are not isolated by
// port, so any other server on 127.0.0.1 would receive one. The first frame on /api must be an
// `auth` frame presenting either the one-time launch code (from the launch URL's fragment,
// which browsers never send to a server) or the session secret minted when that code was
// redeemed (kept by the page in sessionStorage, which is scoped to our origin, port included).
// Until the host answers `auth-ok`, no call is served and no event is sent.
import { z } from 'zod';

/** 256-bit secrets, base64url without padding. */
const Secret = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

export const AuthFrame = z.union([
  z.strictObject({ t: z.literal('auth'), launchCode: Secret }),
  z.strictObject({ t: z.literal('auth'), session: Secret }),
]);
export type AuthFrame = z.infer<typeof AuthFrame>;
export type AuthCredential = { launchCode: string } | { session: string };

export const AuthOkFrame = z.strictObject({ t: z.literal('auth-ok'), session: Secret });
export type AuthOkFrame = z.infer<typeof AuthOkFrame>;

/** Close code: the credential was wrong, spent or from another launch (do not retry with it). */
export const AUTH_REFUSED_CLOSE = 4401;
/** Close code: no auth frame arrived in time. */
export const AUTH_TIMEOUT_CLOSE = 4408;

/** The launch URL carries its code in the fragment: `http://127.0.0.1:PORT/#code=…`. */
export const LAUNCH_CODE_FRAGMENT_PARAM = 'code';

/** The launch code in a URL fragment (`#code=…`), or undefined. */
export function launchCodeFromFragment(hash: string): string | undefined {
  const code = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash).get(LAUNCH_CODE_FRAGMENT_PARAM);
  return code !== null && Secret.safeParse(code).success ? code : undefined;
}
