// The attachment commands in their exact forms, as child processes against a relay process
// started with a per-file limit (files over 2 MiB, so they wait for a save): `send-file CONTACT PATH --caption TEXT`, `history --json` listing
// each message's attachments, `save-attachment ATTACHMENT_ID PATH` writing the plaintext; a file
// over the relay's limit is refused before anything is sent.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, RelayProcess } from '../chaos/relay-process.ts';
import { cli, tempDir } from './helpers.ts';

const relayDir = tempDir('fcli-relay');
const aliceDir = tempDir('fcli-alice');
const bobDir = tempDir('fcli-bob');
const filesDir = tempDir('fcli-files');
const procs: RelayProcess[] = [];

afterAll(async () => {
  for (const p of procs) await p.kill();
  for (const d of [relayDir, aliceDir, bobDir, filesDir]) d.cleanup();
});

interface HistoryJson {
  messages: { id: string; text: string; attachments: { id: string; name: string; size: number; type: string; downloaded: boolean }[] }[];
}

describe('ephemera attachment CLI', () => {
  it('send-file, history --json, save-attachment; the relay\'s --blob-max-file is enforced', async () => {
    const port = await freePort();
    procs.push(await RelayProcess.start(relayDir.dir, port, ['--blob-max-file', '3000000']));
    const descFile = join(relayDir.dir, 'descriptor.json');
    for (const [dir, handle] of [[aliceDir.dir, 'alice'], [bobDir.dir, 'bob']] as const) {
      expect((await cli(dir, 'init')).code).toBe(0);
      expect((await cli(dir, 'register', '--server', descFile, '--handle', handle)).code).toBe(0);
    }
    expect((await cli(aliceDir.dir, 'contact', 'add', 'bob')).code).toBe(0);
    expect((await cli(bobDir.dir, 'contact', 'add', 'alice')).code).toBe(0);

    const content = randomBytes(2_200_000);
    const path = join(filesDir.dir, 'report.pdf');
    writeFileSync(path, content);
    const sent = await cli(aliceDir.dir, 'send-file', 'bob', path, '--caption', 'the report');
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.json).toMatchObject({ ok: true, size: 2_200_000 });

    const synced = await cli(bobDir.dir, 'sync', '--wait', '5');
    expect(synced.code, synced.stderr).toBe(0);
    const history = await cli(bobDir.dir, 'history', 'alice');
    expect(history.code, history.stderr).toBe(0);
    const withFile = (history.json as unknown as HistoryJson).messages.find((m) => m.text === 'the report');
    expect(withFile?.attachments).toEqual([{ id: expect.any(String), messageId: withFile?.id, name: 'report.pdf', size: 2_200_000, type: 'application/pdf', downloaded: false }]);

    const out = join(filesDir.dir, 'saved.pdf');
    const saved = await cli(bobDir.dir, 'save-attachment', withFile!.attachments[0]!.id, out);
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.json).toMatchObject({ ok: true, bytes: 2_200_000, path: out });
    expect(readFileSync(out).equals(content)).toBe(true);
    const after = (await cli(bobDir.dir, 'history', 'alice')).json as unknown as HistoryJson;
    expect(after.messages.find((m) => m.text === 'the report')?.attachments[0]?.downloaded).toBe(true);

    // Over the relay's limit: refused with the limit stated, nothing sent.
    const big = join(filesDir.dir, 'big.bin');
    writeFileSync(big, Buffer.alloc(3_000_001));
    const refused = await cli(aliceDir.dir, 'send-file', 'bob', big);
    expect(refused.code).not.toBe(0);
    expect(refused.json).toMatchObject({ ok: false, code: 'RELAY_REJECTED' });
    expect(String(refused.json.message)).toContain('3000000');
  }, 240_000);
});
