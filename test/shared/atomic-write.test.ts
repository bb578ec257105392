import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { beginAtomicWrite, writeFileAtomic } from '../../shared/atomic-write.ts';

// The one helper every atomically written file goes through (vault header, sealed files,
// settings, backups, relay identity and descriptor). Real files in a temporary directory.
describe('writeFileAtomic', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const fresh = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'ephemera-atomic-'));
    dirs.push(d);
    return d;
  };

  it('replaces the content by a rename: a reader of the old file still reads it whole, and no temp file is left', () => {
    const dir = fresh();
    const path = join(dir, 'file.json');
    writeFileSync(path, 'old content');
    const reader = openSync(path, 'r');
    try {
      writeFileAtomic(path, 'new content, longer than the old');
      expect(readFileSync(path, 'utf8')).toBe('new content, longer than the old');
      // An in-place rewrite would have changed what the open descriptor reads.
      const buf = Buffer.alloc(64);
      const n = readSync(reader, buf, 0, 64, 0);
      expect(buf.subarray(0, n).toString('utf8')).toBe('old content');
    } finally {
      closeSync(reader);
    }
    expect(readdirSync(dir)).toEqual(['file.json']);
  });

  it('the target keeps its old content until commit', () => {
    const dir = fresh();
    const path = join(dir, 'big.sealed');
    writeFileSync(path, 'old');
    const file = beginAtomicWrite(path);
    writeFileSync(file.fd, 'half written');
    expect(readFileSync(path, 'utf8')).toBe('old');
    file.commit();
    expect(readFileSync(path, 'utf8')).toBe('half written');
    expect(readdirSync(dir)).toEqual(['big.sealed']);
  });

  it.skipIf(process.platform === 'win32')('writes mode 0600 whatever the umask and the old file mode', () => {
    const dir = fresh();
    const path = join(dir, 'settings.json');
    writeFileSync(path, '{}');
    chmodSync(path, 0o644);
    const old = process.umask(0);
    try {
      writeFileAtomic(path, '{"a":1}');
    } finally {
      process.umask(old);
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
    process.umask(0o277);
    try {
      writeFileAtomic(path, '{"a":2}');
    } finally {
      process.umask(old);
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('removes the temp file when the rename fails, and leaves the target as it was', () => {
    const dir = fresh();
    const target = join(dir, 'occupied');
    mkdirSync(target);
    writeFileSync(join(target, 'inside'), 'x');
    expect(() => writeFileAtomic(target, 'data')).toThrow();
    expect(readdirSync(dir)).toEqual(['occupied']);
    expect(readdirSync(target)).toEqual(['inside']);
  });

  it('abort removes the temp file and leaves the target as it was', () => {
    const dir = fresh();
    const path = join(dir, 'backup.age');
    writeFileSync(path, 'previous backup');
    const file = beginAtomicWrite(path, join(dir, '.backup.age.123.partial'));
    writeFileSync(file.fd, 'partial');
    file.abort();
    file.abort();
    expect(readdirSync(dir)).toEqual(['backup.age']);
    expect(readFileSync(path, 'utf8')).toBe('previous backup');
  });

  it('refuses a temp path outside the target directory (rename would not be atomic)', () => {
    const dir = fresh();
    expect(() => beginAtomicWrite(join(dir, 'a'), join(tmpdir(), 'elsewhere.tmp'))).toThrow(/same|target directory/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
