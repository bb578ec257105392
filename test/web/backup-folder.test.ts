// Browser mode has no native file dialog, so the web host confines backup paths to one folder:
// the page names a file in it, and anything else is PATH_NOT_ALLOWED before the service is
// called. Real web host and socket; the service behind it records what reaches it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EphemeraService } from '../../shared/api.ts';
import { recordingBackupService, type ReachedCall } from '../app/recording-service.ts';
import { createApiClient, type EphemeraClient } from '../../shared/api/rpc.ts';
import type { SocketTransport } from '../../shared/api/socket-client.ts';
import { startWebHost, type WebHost } from '../../main/web/host.ts';
import { connectLaunchUrl } from '../../main/web/launch-client.ts';
import { folderPolicy } from '../../main/backup-files.ts';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { ageEncryptToFile, ageKeygen } from '../backup/helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-backup-folder-'));
const folder = path.join(tmp, 'profile', 'backups');
const outside = path.join(tmp, 'outside');
const reached: ReachedCall[] = [];

const recordingService = (): EphemeraService => recordingBackupService(reached);

let host: WebHost;
let transport: SocketTransport;
let client: EphemeraClient;

beforeAll(async () => {
  const renderer = path.join(tmp, 'renderer');
  fs.mkdirSync(renderer);
  fs.writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>Ephemera</title>');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret.age'), 'not yours');
  host = await startWebHost({ service: recordingService(), rendererDir: renderer, backupDir: folder });
  transport = await connectLaunchUrl(host.url);
  client = createApiClient(transport);
});

afterAll(async () => {
  transport?.close();
  await host?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const passphrase = { kind: 'passphrase' as const, passphrase: 'backup passphrase' };
const exportTo = (p: string) => client.backupExport({ jobId: 'job-0000001', path: p, protection: passphrase, includeIdentity: false });
const PATH_NOT_ALLOWED = { code: 'PATH_NOT_ALLOWED', message: expect.stringContaining(folder) };

describe('browser mode: backups only in the backups folder', () => {
  it('refuses any path but a bare file name, with a typed error, changing nothing', async () => {
    const attempts = [
      path.join(outside, 'exported.age'),
      '../outside/exported.age',
      '../../outside/exported.age',
      'sub/exported.age',
      'sub\\exported.age',
      '..',
      '.',
      '.hidden.age',
      'exported..age',
      'exported.age.',
      'exported.age\u0000',
      'exported\n.age',
      'x'.repeat(200),
      // Windows device names, with any extension or case.
      'CON',
      'nul.age',
      'Com1.age',
      'lpt9.tar.gz',
      'aux .age',
      'PRN.backup.age',
    ];
    for (const attempt of attempts) {
      await expect(exportTo(attempt), JSON.stringify(attempt)).rejects.toMatchObject(PATH_NOT_ALLOWED);
      await expect(client.backupImport({ jobId: 'job-0000002', path: attempt, key: passphrase }), JSON.stringify(attempt)).rejects.toMatchObject(PATH_NOT_ALLOWED);
      await expect(client.backupRestore({ jobId: 'job-0000002', path: attempt, key: passphrase, password: 'a new vault password 123' }), JSON.stringify(attempt)).rejects.toMatchObject(PATH_NOT_ALLOWED);
      await expect(client.backupOpen({ jobId: 'job-0000003', path: attempt, key: passphrase }), JSON.stringify(attempt)).rejects.toMatchObject(PATH_NOT_ALLOWED);
    }
    expect(reached).toEqual([]);
    expect(fs.existsSync(folder)).toBe(false); // not even the folder was made
    expect(fs.readdirSync(outside)).toEqual(['secret.age']);
  });

  it('refuses an identity file outside the folder, and has no file dialog', async () => {
    await expect(
      client.backupOpen({ jobId: 'job-0000004', path: 'backup.age', key: { kind: 'identityFile', path: path.join(outside, 'secret.age') } }),
    ).rejects.toMatchObject(PATH_NOT_ALLOWED);
    await expect(client.backupChooseFile({ purpose: 'export' })).rejects.toMatchObject({ code: 'NOT_AVAILABLE' });
    expect(reached).toEqual([]);
  });

  it('uses a file name inside the folder, making the folder (0700) for an export', async () => {
    await expect(exportTo('ephemera-backup 2026-12-03.age')).resolves.toMatchObject({ path: path.join(folder, 'ephemera-backup 2026-12-03.age') });
    expect(fs.statSync(folder).mode & 0o777).toBe(0o700);
    await expect(client.backupOpen({ jobId: 'job-0000005', path: 'other.age', key: { kind: 'identityFile', path: 'me.txt' } })).rejects.toMatchObject({
      code: 'BACKUP_WRONG_KEY',
    });
    expect(reached).toEqual([
      { method: 'backupExport', path: path.join(folder, 'ephemera-backup 2026-12-03.age') },
      { method: 'backupOpen', path: path.join(folder, 'other.age'), identityFile: path.join(folder, 'me.txt') },
    ]);
  });

  it('refuses a symbolic link in the folder (it could point anywhere)', async () => {
    fs.symlinkSync(path.join(outside, 'secret.age'), path.join(folder, 'link.age'));
    const before = reached.length;
    await expect(client.backupImport({ jobId: 'job-0000006', path: 'link.age', key: passphrase })).rejects.toMatchObject(PATH_NOT_ALLOWED);
    await expect(exportTo('link.age')).rejects.toMatchObject(PATH_NOT_ALLOWED);
    expect(reached.length).toBe(before);
    expect(fs.readFileSync(path.join(outside, 'secret.age'), 'utf8')).toBe('not yours');
  });
});

describe('browser mode: a symbolic link swapped in after the folder check', () => {
  it('is not followed when the service opens the backup or the identity file', async () => {
    const dir = path.join(tmp, 'swap');
    const backups = path.join(dir, 'backups');
    const policy = folderPolicy(backups);
    const m = await openMessenger({ profileDir: path.join(dir, 'profile'), kdf: TEST_KDF });
    try {
      await m.createVault({ password: 'vault password for links 9' });
      // Outside the folder: a real backup, and the identity that opens it.
      const keys = ageKeygen(outside, 'outside-id.txt');
      const target = path.join(outside, 'real.age');
      const counts = { contacts: 0, conversations: 0, messages: 0, secrets: 0 };
      const lines = [{ type: 'header', format: 'ephemera-backup', version: 2, created: 1, counts, includesIdentity: false }, { type: 'end', counts }];
      ageEncryptToFile(lines.map((l) => `${JSON.stringify(l)}\n`).join(''), keys.recipient, target);
      fs.mkdirSync(backups, { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(backups, 'b.age'), 'a plain file when checked');
      fs.writeFileSync(path.join(backups, 'me.txt'), 'a plain file when checked');
      const file = policy.resolve('open', 'b.age');
      const identityFile = policy.resolve('identity', 'me.txt');
      // The swap, between the check and the open.
      for (const [name, to] of [['b.age', target], ['me.txt', keys.identityFile]] as const) {
        fs.rmSync(path.join(backups, name));
        fs.symlinkSync(to, path.join(backups, name));
      }
      const key = { kind: 'identityFile' as const, path: identityFile };
      await expect(m.backupOpen({ jobId: 'job-links-1', path: file, key })).rejects.toMatchObject({ code: 'FILE_ERROR' });
      // With the identity file itself given outside the folder (as the CLI may), the backup's link is still refused.
      const direct = { kind: 'identityFile' as const, path: keys.identityFile };
      await expect(m.backupOpen({ jobId: 'job-links-2', path: file, key: direct })).rejects.toMatchObject({ code: 'FILE_ERROR' });
      await expect(m.backupImport({ jobId: 'job-links-3', path: file, key: direct, trustUnsigned: true })).rejects.toMatchObject({ code: 'FILE_ERROR' });
      // The same file through no link opens.
      await expect(m.backupOpen({ jobId: 'job-links-4', path: target, key: direct })).resolves.toMatchObject({ messages: 0, createdAt: 1 });
    } finally {
      await m.close();
    }
  });
});
