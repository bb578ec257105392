// What a crash leaves of attachments is cleaned up at the next unlock (issue #15): a child
// process stages part of a window upload (sealed chunks, no message) and is SIGKILLed while
// saving a file, leaving the save's plaintext .part file beside the target. Reopened, the profile
// removes the .part file and the staged chunks; the file that was sent stays whole.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Vault } from '../../main/vault/index.ts';
import { ATTACHMENT_CHUNKS, SAVES_IN_PROGRESS, STAGING, readRecord } from '../../main/messenger/attachment-store.ts';
import { helloPair, messagingScene, PASSWORD, reopen } from './helpers.ts';

const scene = messagingScene('attcrash', ['alice', 'bob', 'files'] as const);

/** The attachment ids that chunk rows belong to ("id/index" keys). */
function chunkOwners(vault: Vault): Set<string> {
  return new Set(vault.kvKeys(ATTACHMENT_CHUNKS).map((k) => k.slice(0, k.lastIndexOf('/'))));
}

describe('attachments after a crash', () => {
  it('the next unlock removes staged chunks and the plaintext .part file of an interrupted save', { timeout: 180_000 }, async () => {
    const { alice, toBob } = await helloPair(scene);
    const content = randomBytes(24 * 1024 * 1024);
    const path = join(scene.dirs.files, 'big.bin');
    writeFileSync(path, content);
    const sent = await alice.m.sendFile({ conversationId: toBob, path });
    const [own] = await alice.m.attachmentsOf({ messageIds: [sent.id] });
    await alice.m.close();

    const saveDir = join(scene.dirs.files, 'saves');
    mkdirSync(saveDir);
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'attachment-crash-child.ts'), scene.dirs.alice, toBob, own!.id, join(saveDir, 'big.out')], {
      env: { ...process.env, ATTACH_CRASH_PASSWORD: PASSWORD },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exit = await new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
    expect(exit, output).toBe('SIGKILL');
    expect(output).toContain('staged');

    // What the crash left: a plaintext .part file, staged chunks without a message, the marks.
    const parts = readdirSync(saveDir).filter((n) => n.endsWith('.part'));
    expect(parts).toHaveLength(1);
    const before = await Vault.unlock(scene.dirs.alice, PASSWORD);
    let staged: string[];
    try {
      staged = before.kvKeys(STAGING);
      expect(staged).toHaveLength(1);
      expect(readRecord(before, staged[0]!)).toBeUndefined();
      expect(chunkOwners(before).has(staged[0]!)).toBe(true);
      expect(before.kvKeys(SAVES_IN_PROGRESS)).toEqual([join(saveDir, parts[0]!)]);
    } finally {
      before.lock();
    }

    // Reopened: both are gone; the sent file is whole.
    const again = await reopen(scene.dirs.alice);
    scene.peers.push(again);
    expect(readdirSync(saveDir)).toEqual([]);
    const out = join(scene.dirs.files, 'after.bin');
    await again.m.saveAttachment({ attachmentId: own!.id, path: out });
    expect(readFileSync(out).equals(content)).toBe(true);
    await again.m.close();
    const after = await Vault.unlock(scene.dirs.alice, PASSWORD);
    try {
      expect(after.kvKeys(STAGING)).toEqual([]);
      expect(after.kvKeys(SAVES_IN_PROGRESS)).toEqual([]);
      expect([...chunkOwners(after)]).toEqual([own!.id]);
    } finally {
      after.lock();
    }
  });
});
