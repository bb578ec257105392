// Child process of attachment-upload-resume.test.ts: unlocks alice's profile and sends one file
// by path, printing "p <bytes>" at each progress event; the parent SIGKILLs it mid-way.
import { writeSync } from 'node:fs';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';

const [profileDir, conversationId, path] = process.argv.slice(2) as [string, string, string];
const m = await openMessenger({ profileDir, kdf: TEST_KDF });
m.subscribe((e) => {
  if (e.name === 'attachmentProgress') writeSync(1, `p ${e.payload.done}\n`);
});
await m.unlock({ password: process.env.ATTACH_RESUME_PASSWORD ?? '' });
await m.sync({ timeoutMs: 30_000 });
await m.sendFile({ conversationId, path, caption: 'resumed upload', jobId: 'child-upload' });
writeSync(1, 'finished\n');
setInterval(() => undefined, 1000);
