// `ephemera send-file` over the attachment quota: refused before anything is sent, with the
// numbers (the file's charge, the recipients' share, what is left): BUSY when a later try can
// succeed, RELAY_REJECTED when the file never fits. Relay process with a small --blob-quota, CLI
// child processes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors.ts';
import { BLOB_RECIPIENT_CHARGE_BYTES, MIN_BLOB_CHARGE_BYTES } from '../../relay/blobs.ts';
import { streamLayout } from '../../shared/protocol/stream.ts';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { cli, tempDir } from './helpers.ts';

const relayDir = tempDir('qcli-relay');
const aliceDir = tempDir('qcli-alice');
const bobDir = tempDir('qcli-bob');
const filesDir = tempDir('qcli-files');
const procs: RelayProcess[] = [];

afterAll(async () => {
  for (const p of procs) await p.kill();
  for (const d of [relayDir, aliceDir, bobDir, filesDir]) d.cleanup();
});

describe('ephemera send-file over the attachment quota', () => {
  it('is refused before anything is sent, naming the recipient\'s share: BUSY when it may fit later, RELAY_REJECTED when never', async () => {
    const size = 100_000;
    const sealed = streamLayout(size).sealedSize;
    // A first small file counts one chunk and bob's 1 KiB; then the second file's sealed bytes fit
    // what is left, but not with bob's share.
    const small = MIN_BLOB_CHARGE_BYTES + BLOB_RECIPIENT_CHARGE_BYTES;
    const quota = small + sealed + 500;
    const port = await freePort();
    procs.push(await RelayProcess.start(relayDir.dir, port, ['--blob-quota', String(quota)]));
    const descFile = join(relayDir.dir, 'descriptor.json');
    for (const [dir, handle] of [[aliceDir.dir, 'alice'], [bobDir.dir, 'bob']] as const) {
      expect((await cli(dir, 'init')).code).toBe(0);
      expect((await cli(dir, 'register', '--server', descFile, '--handle', handle)).code).toBe(0);
    }
    expect((await cli(aliceDir.dir, 'contact', 'add', 'bob')).code).toBe(0);
    const file = (name: string, bytes: number): string => {
      const p = join(filesDir.dir, name);
      writeFileSync(p, Buffer.alloc(bytes, 0x61));
      return p;
    };
    const never = await cli(aliceDir.dir, 'send-file', 'bob', file('big.txt', quota));
    expect(never.code, never.stderr).toBe(ExitCode.RELAY_REJECTED);
    expect(`${JSON.stringify(never.json)} ${never.stderr}`).toContain(`more than the whole quota of ${quota} bytes`);
    const first = await cli(aliceDir.dir, 'send-file', 'bob', file('small.txt', 1000));
    expect(first.code, first.stderr).toBe(0);
    const path = file('notes.txt', size);
    const sent = await cli(aliceDir.dir, 'send-file', 'bob', path);
    expect(sent.code, sent.stderr).toBe(ExitCode.BUSY);
    const said = `${JSON.stringify(sent.json)} ${sent.stderr}`;
    expect(said).toContain(`it counts ${sealed + BLOB_RECIPIENT_CHARGE_BYTES} bytes against your attachment quota`);
    expect(said).toContain(`${BLOB_RECIPIENT_CHARGE_BYTES} of them for the recipients`);
    expect(said).toContain(`${sealed + 500} of ${quota} bytes are left`);
    // No blob was created at the relay for the two refused.
    const db = new Database(join(relayDir.dir, 'relay.db'), { readonly: true });
    try {
      expect((db.prepare('SELECT COUNT(*) AS n FROM blobs').get() as { n: number }).n).toBe(1);
    } finally {
      db.close();
    }
  }, 180_000);
});
