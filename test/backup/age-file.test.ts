// The age layer against the real `age` tool (Debian) and against age-encryption itself:
// chunk boundaries, both chunk ciphers, passphrase via a pty, and every tampering case.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Decrypter, Encrypter } from 'age-encryption';
import { AgeWriter, CHUNK_SIZE, createHeader, openAgeFile, parseIdentityFile, type ChunkCipher, type DecryptKeys, type EncryptKeys } from '../../main/backup/age-file.ts';
import { BackupError } from '../../main/backup/errors.ts';
import { ageKeygen, ageRun, ageWithPassphrase, makeTempDir, type AgeKeyPair } from './helpers.ts';

async function encryptTo(path: string, keys: EncryptKeys, data: Uint8Array, cipher?: ChunkCipher, piece = 7919): Promise<void> {
  const header = await createHeader(keys);
  const fd = openSync(path, 'w');
  try {
    const w = new AgeWriter(fd, header, cipher);
    // Uneven pieces exercise the chunk buffer; pieces over a chunk, sealing in place.
    for (let off = 0; off < data.length; off += piece) w.write(data.subarray(off, Math.min(data.length, off + piece)));
    w.end();
  } finally {
    closeSync(fd);
  }
}

async function decryptFrom(path: string, keys: DecryptKeys, cipher?: ChunkCipher): Promise<Buffer> {
  const f = await openAgeFile(path, keys, cipher);
  try {
    return Buffer.concat([...f.chunks()]);
  } finally {
    f.close();
  }
}

async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BackupError) return err.code;
    throw err;
  }
  return 'no error';
}

const SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 3 * CHUNK_SIZE + 12345];
/** Write sizes: uneven small pieces, exactly a chunk, a chunk and a bit, everything at once. */
const PIECES = [7919, CHUNK_SIZE, 2 * CHUNK_SIZE + 1, Number.MAX_SAFE_INTEGER];

describe('age file layer', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let keys: AgeKeyPair;
  let other: AgeKeyPair;
  beforeAll(() => {
    tmp = makeTempDir();
    keys = ageKeygen(tmp.dir);
    other = ageKeygen(tmp.dir, 'other.txt');
  });
  afterAll(() => tmp.cleanup());

  for (const cipher of ['native', 'noble'] as const) {
    it(`age -d decrypts what we write at chunk boundaries (${cipher} cipher)`, async () => {
      // 20 chunks and a bit: more than one write block (16 chunks) of ciphertext.
      for (const size of [...SIZES, 20 * CHUNK_SIZE + 5]) {
        for (const piece of PIECES) {
          const data = randomBytes(size);
          const file = join(tmp.dir, `w-${cipher}-${size}-${piece}.age`);
          await encryptTo(file, { recipients: [keys.recipient] }, data, cipher, piece);
          const r = ageRun(['-d', '-i', keys.identityFile, file]);
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
          expect(Buffer.compare(r.stdout, data)).toBe(0);
        }
      }
    });

    it(`we decrypt what age -e writes at chunk boundaries (${cipher} cipher)`, async () => {
      for (const size of SIZES) {
        const data = randomBytes(size);
        const file = join(tmp.dir, `r-${cipher}-${size}.age`);
        expect(ageRun(['-e', '-r', keys.recipient, '-o', file], data).status).toBe(0);
        const out = await decryptFrom(file, { identities: [keys.identity] }, cipher);
        expect(Buffer.compare(out, data)).toBe(0);
      }
    });
  }

  it('encrypts to several recipients; each identity alone decrypts', async () => {
    const data = randomBytes(100_000);
    const file = join(tmp.dir, 'multi.age');
    await encryptTo(file, { recipients: [keys.recipient, other.recipient] }, data);
    for (const idFile of [keys.identityFile, other.identityFile]) {
      const r = ageRun(['-d', '-i', idFile, file]);
      expect(Buffer.compare(r.stdout, data)).toBe(0);
    }
    expect(Buffer.compare(await decryptFrom(file, { identities: parseIdentityFile(readFileSync(other.identityFile, 'utf8')) }), data)).toBe(0);
  });

  it('builds a header without touching fetch (its first use loads undici on the calling thread, 45-60 ms of CPU)', async () => {
    const own = Object.getOwnPropertyDescriptor(globalThis, 'Response');
    let reads = 0;
    Object.defineProperty(globalThis, 'Response', {
      configurable: true,
      get: () => {
        reads++;
        return own?.get ? own.get.call(globalThis) : own?.value;
      },
    });
    try {
      await createHeader({ recipients: [keys.recipient] });
      await createHeader({ passphrase: 'pw', workFactor: 10 });
    } finally {
      if (own) Object.defineProperty(globalThis, 'Response', own);
      else delete (globalThis as { Response?: unknown }).Response;
    }
    expect(reads).toBe(0);
  });

  it('age -d decrypts a passphrase file we write (typed into a pty)', async () => {
    const data = randomBytes(70_000);
    const file = join(tmp.dir, 'pass.age');
    const out = join(tmp.dir, 'pass.out');
    await encryptTo(file, { passphrase: 'correct horse battery staple', workFactor: 10 }, data);
    const r = await ageWithPassphrase(['-d', '-o', out, file], 'correct horse battery staple');
    expect(r.code).toBe(0);
    expect(Buffer.compare(readFileSync(out), data)).toBe(0);
  });

  it('we decrypt a passphrase file written by age -p (work factor 18)', async () => {
    const data = randomBytes(150_000);
    const input = join(tmp.dir, 'plain.bin');
    const file = join(tmp.dir, 'agep.age');
    writeFileSync(input, data);
    const r = await ageWithPassphrase(['-p', '-o', file, input], 'ünïcode pässphrase');
    expect(r.code).toBe(0);
    const out = await decryptFrom(file, { passphrase: 'ünïcode pässphrase' });
    expect(Buffer.compare(out, data)).toBe(0);
    expect(await errorCode(decryptFrom(file, { passphrase: 'unicode passphrase' }))).toBe('WRONG_KEY');
  });

  it('interoperates with age-encryption passphrase files both ways', async () => {
    const data = randomBytes(10_000);
    const ours = join(tmp.dir, 'ours.age');
    await encryptTo(ours, { passphrase: 'pw', workFactor: 10 }, data);
    const d = new Decrypter();
    d.addPassphrase('pw');
    expect(Buffer.compare(Buffer.from(await d.decrypt(readFileSync(ours))), data)).toBe(0);

    const e = new Encrypter();
    e.setScryptWorkFactor(10);
    e.setPassphrase('pw');
    const theirs = join(tmp.dir, 'theirs.age');
    writeFileSync(theirs, await e.encrypt(data));
    expect(Buffer.compare(await decryptFrom(theirs, { passphrase: 'pw' }), data)).toBe(0);
  });

  describe('refuses damaged or foreign files with a typed error', () => {
    let good: string;
    let goodBytes: Buffer;
    let pass: string;
    let passBytes: Buffer;
    const idKeys = (): DecryptKeys => ({ identities: [keys.identity] });
    beforeAll(async () => {
      good = join(tmp.dir, 'good.age');
      await encryptTo(good, { recipients: [keys.recipient] }, randomBytes(5 * CHUNK_SIZE + 100));
      goodBytes = readFileSync(good);
      pass = join(tmp.dir, 'goodpass.age');
      await encryptTo(pass, { passphrase: 'pw', workFactor: 10 }, randomBytes(1000));
      passBytes = readFileSync(pass);
    });
    const headerLength = (b: Buffer): number => b.indexOf('\n', b.indexOf('\n---') + 1) + 1;
    const variant = (name: string, bytes: Buffer): string => {
      const p = join(tmp.dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const flip = (b: Buffer, at: number): Buffer => {
      const c = Buffer.from(b);
      c[at] = (c[at] as number) ^ 0x01;
      return c;
    };

    it('wrong identity, wrong passphrase, wrong kind of key', async () => {
      expect(await errorCode(decryptFrom(good, { identities: [other.identity] }))).toBe('WRONG_KEY');
      expect(await errorCode(decryptFrom(pass, { passphrase: 'nope' }))).toBe('WRONG_KEY');
      expect(await errorCode(decryptFrom(good, { passphrase: 'pw' }))).toBe('BAD_PARAMETERS');
      expect(await errorCode(decryptFrom(pass, idKeys()))).toBe('BAD_PARAMETERS');
    });

    it('truncation anywhere: in the header, mid-chunk, at a chunk boundary, the whole final chunk', async () => {
      const h = headerLength(goodBytes);
      const payload = h + 16;
      const ct = CHUNK_SIZE + 16;
      for (const cut of [10, h - 5, h, h + 8, payload + 100, payload + ct, payload + 2 * ct, payload + 5 * ct, goodBytes.length - 1]) {
        expect(await errorCode(decryptFrom(variant(`cut-${cut}.age`, goodBytes.subarray(0, cut)), idKeys())), `cut at ${cut}`).toBe('CORRUPT');
      }
    });

    it('one flipped byte in the header MAC, the nonce, a middle chunk, the last chunk', async () => {
      const h = headerLength(goodBytes);
      const payload = h + 16;
      const ct = CHUNK_SIZE + 16;
      for (const at of [h - 3, 0, h + 3, payload + 2 * ct + 500, payload + 2 * ct + ct - 1, goodBytes.length - 1, goodBytes.length - 60]) {
        expect(await errorCode(decryptFrom(variant(`flip-${at}.age`, flip(goodBytes, at)), idKeys())), `flip at ${at}`).toBe('CORRUPT');
      }
    });

    it('a flipped byte in a recipient stanza reads as a wrong key (indistinguishable by design)', async () => {
      const stanza = goodBytes.indexOf('-> X25519 ') + 12;
      const code = await errorCode(decryptFrom(variant('flip-stanza.age', flip(goodBytes, stanza)), idKeys()));
      expect(['WRONG_KEY', 'CORRUPT']).toContain(code);
    });

    it('refuses a scrypt work factor above the ceiling before doing the work', async () => {
      const text = passBytes.toString('latin1');
      for (const logN of ['21', '22', '40']) {
        const crafted = Buffer.from(text.replace(/^(-> scrypt \S+) 10$/m, `$1 ${logN}`), 'latin1');
        expect(crafted.equals(passBytes)).toBe(false);
        const started = process.cpuUsage();
        expect(await errorCode(decryptFrom(variant(`wf-${logN}.age`, crafted), { passphrase: 'pw' }))).toBe('BAD_PARAMETERS');
        // 2^40 scrypt would need a TiB; getting here at all proves it was never started.
        expect(process.cpuUsage(started).user).toBeLessThan(5_000_000);
      }
    });

    it('not an age file, armored age, empty file', async () => {
      expect(await errorCode(decryptFrom(variant('plain.txt', Buffer.from('hello\n')), idKeys()))).toBe('CORRUPT');
      expect(await errorCode(decryptFrom(variant('empty', Buffer.alloc(0)), idKeys()))).toBe('CORRUPT');
      const armored = ageRun(['-e', '-a', '-r', keys.recipient], Buffer.from('x')).stdout;
      expect(await errorCode(decryptFrom(variant('armored.age', armored), idKeys()))).toBe('CORRUPT');
    });

    it('refuses bad recipients, identities and work factors when asked to encrypt', async () => {
      expect(await errorCode(createHeader({ recipients: ['age1notarecipient'] }))).toBe('BAD_PARAMETERS');
      expect(await errorCode(createHeader({ recipients: [] }))).toBe('BAD_PARAMETERS');
      expect(await errorCode(createHeader({ passphrase: 'x', workFactor: 9 }))).toBe('BAD_PARAMETERS');
      expect(await errorCode(createHeader({ passphrase: 'x', workFactor: 21 }))).toBe('BAD_PARAMETERS');
      expect(await errorCode(createHeader({ passphrase: '' }))).toBe('BAD_PARAMETERS');
      expect(() => parseIdentityFile('# nothing\n')).toThrow(BackupError);
      expect(() => parseIdentityFile('AGE-SECRET-KEY-1XYZ\n')).toThrow(BackupError);
    });
  });
});
