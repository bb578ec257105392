// Bound temp keys of closed connections are kept so a client can resume on a new connection,
// but only up to a cap: anyone can mint permanent keys and bind, so without it they would pile
// up in RAM until they expire. Beyond the cap the oldest is forgotten; its client gets 404.
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../../shared/protocol/frames.ts';
import { boundKey, type RawKey, type RawSession, relayForFile, TestDevice } from './raw-session.ts';

const { session } = relayForFile('idle-keys', { maxTtlSec: 7200, maxIdleBoundKeys: 1 });

/** What the relay answers to a ping under `key` on a fresh connection: a record, or the 404 frame. */
async function pingFrom(key: RawKey): Promise<string> {
  const s = await session();
  s.request(key, 'ping', null);
  const raw = await s.next();
  if (!raw) throw new Error('closed');
  return decodeFrame(raw).type;
}

async function closed(s: RawSession): Promise<void> {
  s.close();
  await s.waitClosed();
  await new Promise((r) => setTimeout(r, 100)); // let the relay run its close handler
}

describe('bound keys without a connection', () => {
  it('are resumable up to the cap; beyond it the oldest is forgotten and answers 404', async () => {
    const s1 = await session();
    const first = await boundKey(s1, new TestDevice());
    const s2 = await session();
    const second = await boundKey(s2, new TestDevice());

    await closed(s1);
    // One idle key is within the cap: it resumes on a new connection.
    expect(await pingFrom(first)).toBe('record');

    const s3 = await session();
    const third = await boundKey(s3, new TestDevice());
    await closed(s2);
    await closed(s3);
    // Two idle keys (second, third) exceed the cap of one: the older is forgotten.
    expect(await pingFrom(second)).toBe('unknownKey');
    expect(await pingFrom(third)).toBe('record');
  });
});
