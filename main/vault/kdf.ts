// Password and recovery-phrase key derivation.
import argon2 from 'argon2';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { hkdfSha256 } from '../../shared/protocol/secret-bytes.ts';
import { observeKey } from '../../shared/protocol/key-observer.ts';
import { entropyToMnemonic, mnemonicToEntropy, validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { BadParameters, WrongRecoveryPhrase } from './errors.ts';

export type KdfParams = { memoryKiB: number; iterations: number; parallelism: number };

/** The defaults from DESIGN.md: about 0.4 s on the reference 2-core machine. */
export const DEFAULT_KDF: KdfParams = Object.freeze({ memoryKiB: 256 * 1024, iterations: 3, parallelism: 4 });
/** The smallest parameters the floor accepts (OWASP's 19 MiB); for tests only. */
export const TEST_KDF: KdfParams = Object.freeze({ memoryKiB: 19 * 1024, iterations: 1, parallelism: 1 });

// Floor: weaker than this is not a password hash. Ceiling: a crafted header (or a copy of one
// in vault.db) must not make one unlock attempt cost more than a small multiple of the default.
// Argon2id's work is memory x passes, so besides per-parameter limits the product is capped at
// 4x the default's: at most 1 GiB of memory and about 4x the default's time (docs/vault.md).
export const KDF_LIMITS = Object.freeze({
  minMemoryKiB: 19 * 1024,
  maxMemoryKiB: 4 * DEFAULT_KDF.memoryKiB,
  minIterations: 1,
  maxIterations: 4 * DEFAULT_KDF.iterations,
  minParallelism: 1,
  maxParallelism: 16,
  /** memoryKiB x iterations. */
  maxWork: 4 * DEFAULT_KDF.memoryKiB * DEFAULT_KDF.iterations,
});

export const SALT_BYTES = 16;

/** Throws BadParameters unless every parameter is an integer inside [floor, ceiling]. Does no work. */
export function checkKdfParams(params: unknown): KdfParams {
  if (typeof params !== 'object' || params === null) throw new BadParameters('parameters missing');
  const p = params as Record<string, unknown>;
  const check = (name: string, value: unknown, min: number, max: number): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new BadParameters(`${name} must be an integer`);
    if (value < min) throw new BadParameters(`${name} ${value} is below the floor ${min}`);
    if (value > max) throw new BadParameters(`${name} ${value} is above the ceiling ${max}`);
    return value;
  };
  const checked = {
    memoryKiB: check('memoryKiB', p.memoryKiB, KDF_LIMITS.minMemoryKiB, KDF_LIMITS.maxMemoryKiB),
    iterations: check('iterations', p.iterations, KDF_LIMITS.minIterations, KDF_LIMITS.maxIterations),
    parallelism: check('parallelism', p.parallelism, KDF_LIMITS.minParallelism, KDF_LIMITS.maxParallelism),
  };
  const work = checked.memoryKiB * checked.iterations;
  if (work > KDF_LIMITS.maxWork) {
    throw new BadParameters(`memoryKiB x iterations ${work} is above the ceiling ${KDF_LIMITS.maxWork} (4x the default's work)`);
  }
  return checked;
}

/** NFC so the same password typed through different input methods gives the same key. */
export function passwordBytes(password: string): Buffer {
  return Buffer.from(password.normalize('NFC'), 'utf8');
}

export function checkNewPassword(password: string): void {
  if (typeof password !== 'string' || password.length === 0) throw new BadParameters('the password must not be empty');
}

// argon2's hash() copies the password into a new Buffer (Buffer.from) that is never zeroed. Its
// native binding, called directly, copies it only into memory it clears itself
// (ARGON2_FLAG_CLEAR_PASSWORD), so the caller's bytes, which derivePasswordKey zeroes, are the
// only copy. The binding is loaded exactly as argon2 loads it (node-gyp-build from its directory).
interface Argon2Binding {
  hash(args: {
    password: Buffer;
    salt: Buffer;
    secret: Buffer;
    data: Buffer;
    hashLength: number;
    m: number;
    t: number;
    p: number;
    version: number;
    type: number;
  }): Promise<Buffer>;
}
const ARGON2_VERSION_13 = 0x13;
let binding: Argon2Binding | undefined;
function argon2Binding(): Argon2Binding {
  if (binding) return binding;
  const argon2Dir = dirname(createRequire(import.meta.url).resolve('argon2/package.json'));
  const gypBuild = createRequire(join(argon2Dir, 'argon2.cjs'))('node-gyp-build') as (dir: string) => unknown;
  const loaded = gypBuild(argon2Dir);
  if (typeof loaded !== 'object' || loaded === null || typeof (loaded as { hash?: unknown }).hash !== 'function') {
    throw new Error('the argon2 native binding has an unexpected shape');
  }
  binding = loaded as Argon2Binding;
  return binding;
}

/** Argon2id -> 32-byte key. Runs on libuv's thread pool, so the event loop stays free. */
export async function derivePasswordKey(password: string, salt: Uint8Array, params: KdfParams): Promise<Buffer> {
  const checked = checkKdfParams(params);
  if (salt.length < SALT_BYTES) throw new BadParameters(`salt must be at least ${SALT_BYTES} bytes`);
  const pw = passwordBytes(password);
  try {
    const key = await argon2Binding().hash({
      password: pw,
      salt: Buffer.from(salt),
      secret: Buffer.alloc(0),
      data: Buffer.alloc(0),
      hashLength: 32,
      m: checked.memoryKiB,
      t: checked.iterations,
      p: checked.parallelism,
      version: ARGON2_VERSION_13,
      type: argon2.argon2id,
    });
    observeKey('vault.password-key', key);
    await scrubArgon2Stacks();
    return key;
  } finally {
    pw.fill(0);
  }
}

// The native Argon2 code leaves a copy of its output on the stack of the libuv worker thread
// that ran it (test/messaging/lock-memory.test.ts finds it there). A small dummy hash runs the
// same code over the same stack slots. Several per pool thread are queued together so that every
// thread, the one that ran the real hash among them, most likely takes one; a thread the OS does
// not schedule until the others have drained the queue is missed (best effort; certain with one
// pool thread, as the test runs it). About 60 ms of CPU spread over the pool.
const POOL_THREADS = Math.min(Math.max(Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10) || 4, 1), 1024);
async function scrubArgon2Stacks(): Promise<void> {
  const none = Buffer.alloc(0);
  const dummy = (): Promise<Buffer> =>
    argon2Binding().hash({ password: Buffer.alloc(8), salt: Buffer.alloc(SALT_BYTES), secret: none, data: none, hashLength: 32, m: 4096, t: 1, p: 1, version: ARGON2_VERSION_13, type: argon2.argon2id });
  await Promise.all(Array.from({ length: 4 * POOL_THREADS }, dummy));
}

/** Lower case, single spaces, NFKD as BIP39 prescribes. */
export function normalizePhrase(phrase: string): string {
  return phrase.normalize('NFKD').toLowerCase().trim().split(/\s+/u).join(' ');
}

export function newRecoveryPhrase(entropy: Uint8Array): string {
  return entropyToMnemonic(entropy, wordlist);
}

/** 24 valid English BIP39 words with a good checksum -> their 32 bytes of entropy. */
export function phraseEntropy(phrase: string): Uint8Array {
  const normalized = normalizePhrase(phrase);
  if (normalized.split(' ').length !== 24 || !validateMnemonic(normalized, wordlist)) {
    throw new WrongRecoveryPhrase('That is not a valid 24-word recovery phrase (check every word and their order).');
  }
  return mnemonicToEntropy(normalized, wordlist);
}

/**
 * The phrase carries 256 bits of entropy, so a plain HKDF is enough (no Argon2 needed);
 * the vault id as salt makes the key specific to this vault.
 */
export function deriveRecoveryKey(entropy: Uint8Array, vaultId: Uint8Array): Buffer {
  return hkdfSha256(entropy, vaultId, 'ephemera/vault/v1/recovery-key', 32);
}
