// Child process of attachment-resume.test.ts: unlocks bob's profile and downloads one
// attachment, printing "p <bytes>" at each progress event; the parent SIGKILLs it mid-way.
import { writeSync } from 'node:fs';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';

const [profileDir, attachmentId] = process.argv.slice(2) as [string, string];
const m = await openMessenger({ profileDir, kdf: TEST_KDF });
m.subscribe((e) => {
  if (e.name === 'attachmentProgress') writeSync(1, `p ${e.payload.done}\n`);
});
await m.unlock({ password: process.env.ATTACH_RESUME_PASSWORD ?? '' });
await m.attachmentDownload({ attachmentId, jobId: 'child-download' });
writeSync(1, 'finished\n');
setInterval(() => undefined, 1000);
