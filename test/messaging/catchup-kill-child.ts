// Child process of catchup-kill.test.ts: unlocks an existing profile, so it catches up on what
// the relay queued, and says "n <count>" after each message is stored; the parent SIGKILLs it
// mid-way.
import { writeSync } from 'node:fs';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';

const [profileDir] = process.argv.slice(2) as [string];
const m = await openMessenger({ profileDir, kdf: TEST_KDF });
let n = 0;
m.subscribe((e) => {
  if (e.name === 'message' && e.payload.direction === 'in') writeSync(1, `n ${++n}\n`);
});
await m.unlock({ password: process.env.CATCHUP_TEST_PASSWORD ?? '' });
// Stays alive until killed.
setInterval(() => undefined, 1000);
