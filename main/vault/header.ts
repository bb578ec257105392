// The key header: a small JSON file beside vault.db holding the Argon2id parameters and the
// data key wrapped twice (password key, recovery key). It lives outside SQLite so a wrong
// password is detected before the database is opened at all: a failed unlock writes nothing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../shared/atomic-write.ts';
import { open, seal, SealOpenError, KEY_BYTES, SEAL_OVERHEAD } from './aead.ts';
import { VaultCorrupt, UnsupportedVersion } from './errors.ts';
import { checkKdfParams, SALT_BYTES, type KdfParams } from './kdf.ts';

export const HEADER_FILE = 'vault.header.json';
export const HEADER_FORMAT = 1;
const MAX_HEADER_BYTES = 64 * 1024;

export interface VaultHeader {
  format: number;
  vaultId: Buffer;
  kdf: KdfParams & { salt: Buffer };
  passwordWrap: Buffer;
  recoveryWrap: Buffer;
}

/** A base64 field of the header (and of its copy in vault.db, recovery-copy.ts). */
export const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/u).max(4096);
const headerSchema = z.object({
  format: z.number().int(),
  vaultId: b64,
  kdf: z.object({
    algorithm: z.literal('argon2id'),
    memoryKiB: z.number(),
    iterations: z.number(),
    parallelism: z.number(),
    salt: b64,
  }),
  passwordWrap: b64,
  recoveryWrap: b64,
});

const formatOnly = z.object({ format: z.number().int() });

function bytesOf(value: string, minLen: number, maxLen: number, what: string): Buffer {
  const buf = Buffer.from(value, 'base64');
  if (buf.length < minLen || buf.length > maxLen) throw new VaultCorrupt(`header field ${what} has the wrong length`);
  return buf;
}

/** Parses and validates the header; BadParameters for out-of-range KDF parameters. */
export function readHeader(profileDir: string): VaultHeader {
  let raw: Buffer;
  try {
    raw = readFileSync(join(profileDir, HEADER_FILE));
  } catch (err) {
    throw new VaultCorrupt(`cannot read ${HEADER_FILE}`, { cause: err });
  }
  if (raw.length > MAX_HEADER_BYTES) throw new VaultCorrupt(`${HEADER_FILE} is too large`);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new VaultCorrupt(`${HEADER_FILE} is not valid JSON (truncated?)`, { cause: err });
  }
  const fmt = formatOnly.safeParse(json);
  if (!fmt.success || fmt.data.format < 1) throw new VaultCorrupt(`${HEADER_FILE} has no valid format version`);
  if (fmt.data.format > HEADER_FORMAT) throw new UnsupportedVersion(fmt.data.format, HEADER_FORMAT);
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) throw new VaultCorrupt(`${HEADER_FILE} is malformed`);
  const h = parsed.data;
  const params = checkKdfParams({ memoryKiB: h.kdf.memoryKiB, iterations: h.kdf.iterations, parallelism: h.kdf.parallelism });
  const wrapLen = KEY_BYTES + SEAL_OVERHEAD;
  return {
    format: h.format,
    vaultId: bytesOf(h.vaultId, 16, 16, 'vaultId'),
    kdf: { ...params, salt: bytesOf(h.kdf.salt, SALT_BYTES, 64, 'salt') },
    passwordWrap: bytesOf(h.passwordWrap, wrapLen, wrapLen, 'passwordWrap'),
    recoveryWrap: bytesOf(h.recoveryWrap, wrapLen, wrapLen, 'recoveryWrap'),
  };
}

/** Writes the header atomically: temp file, fsync, rename, fsync of the directory. */
export function writeHeader(profileDir: string, header: VaultHeader): void {
  const body = JSON.stringify(
    {
      format: header.format,
      vaultId: header.vaultId.toString('base64'),
      kdf: {
        algorithm: 'argon2id',
        memoryKiB: header.kdf.memoryKiB,
        iterations: header.kdf.iterations,
        parallelism: header.kdf.parallelism,
        salt: header.kdf.salt.toString('base64'),
      },
      passwordWrap: header.passwordWrap.toString('base64'),
      recoveryWrap: header.recoveryWrap.toString('base64'),
    },
    null,
    2,
  );
  writeFileAtomic(join(profileDir, HEADER_FILE), `${body}\n`);
}

function passwordWrapAd(vaultId: Buffer, kdf: KdfParams & { salt: Buffer }): Buffer {
  return Buffer.from(
    `ephemera/vault/v${HEADER_FORMAT}/password-wrap/${vaultId.toString('hex')}/argon2id/${kdf.memoryKiB}/${kdf.iterations}/${kdf.parallelism}/${kdf.salt.toString('hex')}`,
  );
}

function recoveryWrapAd(vaultId: Buffer): Buffer {
  return Buffer.from(`ephemera/vault/v${HEADER_FORMAT}/recovery-wrap/${vaultId.toString('hex')}`);
}

export function wrapWithPassword(passwordKey: Uint8Array, dataKey: Uint8Array, vaultId: Buffer, kdf: KdfParams & { salt: Buffer }): Buffer {
  return seal(passwordKey, dataKey, passwordWrapAd(vaultId, kdf));
}

export function wrapWithRecovery(recoveryKey: Uint8Array, dataKey: Uint8Array, vaultId: Buffer): Buffer {
  return seal(recoveryKey, dataKey, recoveryWrapAd(vaultId));
}

/** undefined when the key does not open the wrap. */
export function unwrapWithPassword(passwordKey: Uint8Array, header: VaultHeader): Buffer | undefined {
  return tryOpen(passwordKey, header.passwordWrap, passwordWrapAd(header.vaultId, header.kdf));
}

export function unwrapWithRecovery(recoveryKey: Uint8Array, header: VaultHeader): Buffer | undefined {
  return tryOpen(recoveryKey, header.recoveryWrap, recoveryWrapAd(header.vaultId));
}

function tryOpen(key: Uint8Array, blob: Buffer, ad: Buffer): Buffer | undefined {
  try {
    const out = open(key, blob, ad);
    if (out.length !== KEY_BYTES) {
      out.fill(0);
      return undefined;
    }
    return out;
  } catch (err) {
    if (err instanceof SealOpenError) return undefined;
    throw err;
  }
}
