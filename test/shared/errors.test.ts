// Every typed error family extends the one base (shared/errors.ts) and keeps what callers rely
// on: instanceof of its family, its code, its name, its cause; isError narrows to a family and code.
import { describe, expect, it } from 'vitest';
import { CodedError, isError } from '../../shared/errors.ts';
import { ApiError } from '../../shared/api.ts';
import { SessionRefused } from '../../shared/api/socket-client.ts';
import { ProtocolError, RpcError } from '../../shared/protocol/errors.ts';
import { BadBundle, E2eError, UntrustedIdentity } from '../../shared/protocol/e2e-errors.ts';
import { VaultBusy, VaultCorrupt, VaultError, WrongPassword } from '../../main/vault/errors.ts';
import { BackupError, BackupMalformed } from '../../main/backup/errors.ts';
import { RelayRefusal } from '../../main/messenger/errors.ts';
import { PermanentKeyDisposed } from '../../main/net/permanent-key.ts';
import { LaunchRefused } from '../../main/web/launch-client.ts';
import { PgStoreError } from '../../relay/store-pg.ts';
import { SnapshotInvalid } from '../../main/search/index-db.ts';
import { SealOpenError } from '../../main/vault/aead.ts';
import { GroupChangeRefused } from '../../main/messenger/group-state.ts';
import { toServiceError } from '../../main/messenger/errors.ts';
import { toApiErrorValue } from '../../shared/api/errors.ts';
import { CliError, ExitCode } from '../../cli/io.ts';

describe('error families', () => {
  it.each([
    [new WrongPassword(), VaultError, 'WRONG_PASSWORD', 'WrongPassword'],
    [new VaultBusy(), VaultError, 'BUSY', 'VaultBusy'],
    [new VaultError('NO_VAULT', 'm'), VaultError, 'NO_VAULT', 'VaultError'],
    [new BackupMalformed('d'), BackupError, 'MALFORMED', 'BackupMalformed'],
    [new BadBundle('d'), E2eError, 'BAD_BUNDLE', 'BadBundle'],
    [new UntrustedIdentity('a.1', new Uint8Array(33), false), E2eError, 'UNTRUSTED_IDENTITY', 'UntrustedIdentity'],
    [new ProtocolError('BAD_FRAME', 'short'), ProtocolError, 'BAD_FRAME', 'ProtocolError'],
    [new RpcError('QUEUE_FULL'), RpcError, 'QUEUE_FULL', 'RpcError'],
    [new ApiError('BUSY', 'm'), ApiError, 'BUSY', 'ApiError'],
    [new RelayRefusal('RELAY_REJECTED', 'BIND_INVALID', 'm'), ApiError, 'RELAY_REJECTED', 'ApiError'],
    [new SessionRefused(), SessionRefused, 'SESSION_REFUSED', 'SessionRefused'],
    [new PermanentKeyDisposed(), PermanentKeyDisposed, 'PERMANENT_KEY_DISPOSED', 'PermanentKeyDisposed'],
    [new LaunchRefused('d'), LaunchRefused, 'LAUNCH_REFUSED', 'LaunchRefused'],
    [new PgStoreError('BAD_NODE_ID', 'm'), PgStoreError, 'BAD_NODE_ID', 'PgStoreError'],
    [new SnapshotInvalid('d'), SnapshotInvalid, 'SNAPSHOT_INVALID', 'SnapshotInvalid'],
    [new SealOpenError(), SealOpenError, 'SEAL_OPEN_FAILED', 'SealOpenError'],
    [new GroupChangeRefused('stale'), GroupChangeRefused, 'GROUP_CHANGE_REFUSED', 'GroupChangeRefused'],
    [new CliError('m', ExitCode.USAGE), CliError, 'USAGE', 'CliError'],
  ] as const)('%s: one base, its family, code and name', (error, Family, code, name) => {
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(CodedError);
    expect(error).toBeInstanceOf(Family);
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(isError(error, Family, code)).toBe(true);
  });

  it('keeps the message formats and the cause', () => {
    const cause = new Error('inner');
    const corrupt = new VaultCorrupt('bad page', { cause });
    expect(corrupt.cause).toBe(cause);
    expect(corrupt.message).toBe('The vault is damaged or was tampered with: bad page');
    expect(new ProtocolError('BAD_FRAME', 'short').message).toBe('BAD_FRAME: short');
    expect(new ProtocolError('BAD_FRAME').message).toBe('BAD_FRAME');
    expect(new RpcError('NOT_FOUND', 'no such handle').message).toBe('NOT_FOUND: no such handle');
    const cli = new CliError('m', ExitCode.NO_VAULT, 'NO_VAULT');
    expect([cli.exitCode, cli.code]).toEqual([ExitCode.NO_VAULT, 'NO_VAULT']);
  });

  it('internal errors that escape reach callers as INTERNAL (the CLI: exit 1), their detail kept inside', () => {
    const internal = [
      new SnapshotInvalid('not an SQLite image'),
      new SealOpenError('blob too short'),
      new GroupChangeRefused('not-admin'),
      new PgStoreError('DATABASE_UNAVAILABLE', 'connection refused'),
      new PermanentKeyDisposed(),
    ];
    for (const error of internal) {
      const value = toApiErrorValue(toServiceError(error));
      expect(value.code, error.code).toBe('INTERNAL');
      expect(value.message, error.code).not.toContain(error.message);
    }
    expect(new SnapshotInvalid('tokenizer version differs').message).toBe('The search index snapshot is unusable: tokenizer version differs');
    expect(new SealOpenError().message).toBe('authentication failed');
    expect(new GroupChangeRefused('full').reason).toBe('full');
  });

  it('isError tells families and codes apart and narrows the code', () => {
    const error: unknown = new VaultBusy();
    expect(isError(error, VaultError)).toBe(true);
    expect(isError(error, VaultError, 'WRONG_PASSWORD')).toBe(false);
    expect(isError(error, BackupError)).toBe(false);
    expect(isError(error, ApiError, 'BUSY')).toBe(false);
    expect(isError({ code: 'BUSY', message: 'look-alike' }, VaultError, 'BUSY')).toBe(false);
    expect(isError(undefined, VaultError)).toBe(false);
    if (isError(error, VaultError, 'BUSY')) {
      // Type-level: the code is the literal, not the whole union.
      const code: 'BUSY' = error.code;
      expect(code).toBe('BUSY');
    } else {
      expect.unreachable('a VaultBusy is a VaultError with code BUSY');
    }
  });
});
