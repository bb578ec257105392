// A relay that is not the one the descriptor names (certificate pin mismatch, as under a MITM)
// is reported to the user as its own connection cause, not as "connecting" forever.
import { afterAll, describe, expect, it } from 'vitest';
import type { ApiEvent, ConnectionState } from '../../shared/api.ts';
import { ProtocolError } from '../../shared/protocol/errors.ts';
import { openMessenger, type Messenger } from '../../main/messenger.ts';
import { isRelayIdentityMismatch } from '../../main/messenger/connection.ts';
import { TEST_KDF } from '../../main/vault/index.ts';
import { describeConnection } from '../../renderer/src/logic.ts';
import type { RelayProcess } from '../chaos/relay-process.ts';
import { PASSWORD, startRelay, tempDir, waitFor } from './helpers.ts';

const relayDir = tempDir('mm-relay');
const aliceDir = tempDir('mm-alice');
let relay: RelayProcess | undefined;
let m: Messenger | undefined;

afterAll(async () => {
  await m?.close();
  await relay?.kill();
  relayDir.cleanup();
  aliceDir.cleanup();
});

describe('relay identity mismatch', () => {
  it('a wrong certificate pin is reported as relay_identity_mismatch and named by the indicator', async () => {
    const started = await startRelay(relayDir.dir);
    relay = started.relay;
    const descriptor = JSON.parse(started.descriptorText) as { certificateSha256: string };
    const wrongPin = JSON.stringify({ ...descriptor, certificateSha256: descriptor.certificateSha256.replace(/^./, (c) => (c === '0' ? '1' : '0')) });
    m = await openMessenger({ profileDir: aliceDir.dir, kdf: TEST_KDF, relayTimeoutMs: 3000 });
    const events: ApiEvent[] = [];
    m.subscribe((e) => events.push(e));
    await m.createVault({ password: PASSWORD });
    const messenger = m;
    const error = await messenger.register({ handle: 'alice', serverDescriptor: wrongPin }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(error?.code).toBe('RELAY_UNREACHABLE');
    expect(error?.message).toContain('not the relay the descriptor names');
    const states = events.flatMap((e): ConnectionState[] => (e.name === 'connection' ? [e.payload] : []));
    expect(states.some((s) => s.cause === 'relay_identity_mismatch')).toBe(true);
    expect(states.some((s) => s.phase === 'ready')).toBe(false);
    // The cause stays through the retry cycle (connecting again is not a "network error").
    const before = states.length;
    await waitFor(() => events.filter((e) => e.name === 'connection').length > before + 1, 30_000, 'another retry');
    const now = await messenger.connectionState();
    expect(now.phase).not.toBe('ready');
    expect(now.cause).toBe('relay_identity_mismatch');
    const shown = describeConnection(now);
    expect(shown.label).toBe('Relay not trusted');
    expect(shown.detail).toContain('does not match');
  }, 60_000);

  it('only pin and relay-signature failures count as a mismatch', () => {
    expect(isRelayIdentityMismatch(new ProtocolError('CERT_PIN_MISMATCH', 'x'))).toBe(true);
    expect(isRelayIdentityMismatch(new ProtocolError('RELAY_SIGNATURE_INVALID', 'relay signature does not verify'))).toBe(true);
    expect(isRelayIdentityMismatch(new ProtocolError('HANDSHAKE_INVALID', 'relay refused the handshake'))).toBe(false);
    // the code decides, never the text
    expect(isRelayIdentityMismatch(new ProtocolError('HANDSHAKE_INVALID', 'relay signature does not verify'))).toBe(false);
    expect(isRelayIdentityMismatch(new ProtocolError('RECORD_INVALID'))).toBe(false);
    expect(isRelayIdentityMismatch(new Error('CERT_PIN_MISMATCH'))).toBe(false);
  });
});
