// The age scrypt recipient and identity (C2SP age spec, "scrypt recipient stanza"), on Node's
// native scrypt: it runs on libuv's thread pool, so the 2^18 work factor does not freeze the
// event loop, and it is several times faster than the pure-JS one in age-encryption.
// The wire format is exactly age's; interop is tested against the `age` tool and age-encryption.
import { scrypt as scryptCallback, randomBytes } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { Stanza, type Identity, type Recipient } from 'age-encryption';
import { BackupBadParameters, BackupCorrupt } from './errors.ts';

const LABEL = 'age-encryption.org/v1/scrypt';
/** Work factors accepted when encrypting (tests use 10; 18 is age's default). */
export const MIN_EXPORT_WORK_FACTOR = 10;
export const DEFAULT_WORK_FACTOR = 18;
/**
 * Highest log2(N) accepted when decrypting, checked before any work: 2^20 needs 1 GiB and
 * seconds of CPU. age-encryption also stops at 20 (Go age at 22; it only ever writes 18).
 */
export const MAX_WORK_FACTOR = 20;

const B64_NOPAD = /^[A-Za-z0-9+/]+$/;

function scrypt(passphrase: string, salt: Uint8Array, logN: number): Promise<Buffer> {
  const labelAndSalt = Buffer.concat([Buffer.from(LABEL, 'ascii'), salt]);
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    scryptCallback(passphrase, labelAndSalt, 32, { N, r: 8, p: 1, maxmem: 256 * N * 8 + 16 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

function b64encode(b: Uint8Array): string {
  return Buffer.from(b).toString('base64').replace(/=+$/, '');
}

/** Wraps the file key under a passphrase; also hands the file key to `onFileKey` (the payload is sealed by our own STREAM writer). */
export class ScryptRecipient implements Recipient {
  private readonly passphrase: string;
  private readonly logN: number;
  private readonly onFileKey: (fileKey: Uint8Array) => void;

  constructor(passphrase: string, logN: number, onFileKey: (fileKey: Uint8Array) => void) {
    if (!Number.isInteger(logN) || logN < MIN_EXPORT_WORK_FACTOR || logN > MAX_WORK_FACTOR) {
      throw new BackupBadParameters(
        `The scrypt work factor must be an integer from ${MIN_EXPORT_WORK_FACTOR} to ${MAX_WORK_FACTOR} (got ${String(logN)}).`,
      );
    }
    this.passphrase = passphrase;
    this.logN = logN;
    this.onFileKey = onFileKey;
  }

  async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
    this.onFileKey(fileKey);
    const salt = randomBytes(16);
    const key = await scrypt(this.passphrase, salt, this.logN);
    try {
      const body = chacha20poly1305(key, new Uint8Array(12)).encrypt(fileKey);
      return [new Stanza(['scrypt', b64encode(salt), String(this.logN)], body)];
    } finally {
      key.fill(0);
    }
  }
}

/** Reads the work factor of a scrypt stanza line's arguments, or throws. */
export function parseWorkFactor(arg: string | undefined): number {
  if (arg === undefined || !/^[1-9][0-9]{0,2}$/.test(arg)) throw new BackupCorrupt('invalid scrypt stanza');
  return Number(arg);
}

export function checkWorkFactor(logN: number): void {
  if (logN > MAX_WORK_FACTOR) {
    throw new BackupBadParameters(
      `The backup asks for scrypt work factor ${logN}; the most this build accepts is ${MAX_WORK_FACTOR}. Refusing before doing the work.`,
    );
  }
}

export class ScryptIdentity implements Identity {
  private readonly passphrase: string;
  constructor(passphrase: string) {
    this.passphrase = passphrase;
  }

  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    for (const s of stanzas) {
      if (s.args[0] !== 'scrypt') continue;
      // Spec: a scrypt stanza must be alone, or a passphrase file could be re-targeted.
      if (stanzas.length !== 1) throw new BackupCorrupt('a scrypt stanza is not the only one in the header');
      if (s.args.length !== 3) throw new BackupCorrupt('invalid scrypt stanza');
      const saltArg = s.args[1] ?? '';
      if (!B64_NOPAD.test(saltArg)) throw new BackupCorrupt('invalid scrypt salt');
      const salt = Buffer.from(saltArg, 'base64');
      if (salt.length !== 16 || b64encode(salt) !== saltArg) throw new BackupCorrupt('invalid scrypt salt');
      const logN = parseWorkFactor(s.args[2]);
      checkWorkFactor(logN);
      if (s.body.length !== 32) throw new BackupCorrupt('invalid scrypt stanza body');
      const key = await scrypt(this.passphrase, salt, logN);
      try {
        return chacha20poly1305(key, new Uint8Array(12)).decrypt(s.body);
      } catch {
        return null; // wrong passphrase
      } finally {
        key.fill(0);
      }
    }
    return null;
  }
}
