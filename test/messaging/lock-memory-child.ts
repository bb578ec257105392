// Child process of lock-memory.test.ts. Unlocks an existing profile, sends a text and waits for
// the reply through the relay, then waits for "lock" on stdin, locks and stays alive so the
// parent can read this process's memory from outside. Every key made meanwhile is written to
// stdout as hex when it comes into being (hex text is not the key's bytes, so writing it out
// leaves no copy the scan would find).
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { installKeyObserverForTests } from '../../shared/protocol/key-observer.ts';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';

const [profileDir, conversationId] = process.argv.slice(2) as [string, string];
const say = (line: string): void => {
  writeSync(1, `${line}\n`);
};

installKeyObserverForTests((label, key) => {
  say(`key ${label} ${Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')}`);
});

const m = await openMessenger({ profileDir, kdf: TEST_KDF });
let replied = false;
m.subscribe((e) => {
  if (e.name === 'message' && e.payload.direction === 'in' && e.payload.text.startsWith('pong')) replied = true;
});
await m.unlock({ password: process.env.LOCK_TEST_PASSWORD ?? '' });
await m.sendText({ conversationId, text: 'ping from the child' });
say('sent');
while (!replied) await new Promise((r) => setTimeout(r, 20));
say('received');

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line === 'lock') {
    await m.lock();
    say('locked');
  }
}
