// `ephemera send-file --group GROUP_ID PATH [--caption TEXT]` and `history --group GROUP_ID --json`
// listing each message's files, as child processes against a real relay process; the wrong
// shapes are usage errors (`send-file CONTACT PATH` keeps its form: test/messaging/attachments-cli).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, messagingScene, newPeer } from '../messaging/helpers.ts';

const scene = messagingScene('group-files-cli', ['alice', 'bob', 'carol']);
const files = mkdtempSync(join(tmpdir(), 'group-files-cli-'));
afterAll(() => rmSync(files, { recursive: true, force: true }));

beforeAll(async () => {
  const { descriptorText } = await scene.startRelay();
  for (const n of ['alice', 'bob', 'carol'] as const) {
    const p = await newPeer(scene.dirs[n], `gfc_${n}`, descriptorText);
    await p.m.close();
  }
}, 120_000);

interface Listed {
  id: string;
  sender: string;
  text: string;
  attachments: { id: string; name: string; size: number; type: string; downloaded: boolean }[];
}

describe('ephemera send-file --group', () => {
  it('sends a file to a group; history --group --json lists it at every member; saved byte-exact', async () => {
    const { alice, bob, carol } = scene.dirs;
    const created = await cli(alice, 'group', 'create', 'Files', 'gfc_bob', 'gfc_carol');
    expect(created.code, created.stderr).toBe(0);
    const groupId = created.json.groupId as string;
    for (const p of [bob, carol]) expect((await cli(p, 'sync')).code).toBe(0);

    const content = randomBytes(150_000);
    const path = join(files, 'notes.bin');
    writeFileSync(path, content);
    const sent = await cli(alice, 'send-file', '--group', groupId, path, '--caption', 'for the group');
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.json).toMatchObject({ size: content.length, outbox: 0 });

    for (const p of [bob, carol]) {
      expect((await cli(p, 'sync')).code).toBe(0);
      const history = await cli(p, 'history', '--group', groupId);
      expect(history.code, history.stderr).toBe(0);
      const msg = (history.json.messages as Listed[]).find((m) => m.text === 'for the group');
      expect(msg).toMatchObject({ sender: 'gfc_alice', attachments: [{ name: 'notes.bin', size: content.length, type: 'application/octet-stream' }] });
      const out = join(files, `saved-${p === bob ? 'bob' : 'carol'}.bin`);
      const saved = await cli(p, 'save-attachment', msg!.attachments[0]!.id, out);
      expect(saved.code, saved.stderr).toBe(0);
      expect(readFileSync(out).equals(content)).toBe(true);
    }
    // The sender's own history lists its copy, downloaded; a text has no files.
    const own = (await cli(alice, 'history', '--group', groupId)).json.messages as Listed[];
    expect(own.find((m) => m.text === 'for the group')?.attachments).toEqual([expect.objectContaining({ name: 'notes.bin', downloaded: true })]);
    expect(own.find((m) => m.text !== 'for the group')?.attachments).toEqual([]);

    // Wrong shapes: usage errors (exit 2); an unknown group: its typed error.
    expect((await cli(alice, 'send-file', '--group', groupId, path, 'extra')).code).toBe(2);
    expect((await cli(alice, 'send-file', '--group', 'nope', path)).code).toBe(2);
    expect((await cli(alice, 'send-file', 'gfc_bob')).code).toBe(2);
    expect((await cli(alice, 'send-file', '--group', '0'.repeat(32), path)).json).toMatchObject({ ok: false, code: 'UNKNOWN_CONVERSATION' });
  }, 240_000);
});
