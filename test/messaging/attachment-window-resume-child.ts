// Child process of attachment-window-resume.test.ts: unlocks alice's profile and sends one file
// as the window does (bytes over the contract, then commit), printing "p <bytes>" at each
// progress event of the commit's upload; the parent SIGKILLs it mid-way.
import { readFileSync, writeSync } from 'node:fs';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';

const [profileDir, conversationId, path] = process.argv.slice(2) as [string, string, string];
const bytes = readFileSync(path);
const m = await openMessenger({ profileDir, kdf: TEST_KDF });
m.subscribe((e) => {
  if (e.name === 'attachmentProgress') writeSync(1, `p ${e.payload.done}\n`);
});
await m.unlock({ password: process.env.ATTACH_RESUME_PASSWORD ?? '' });
await m.sync({ timeoutMs: 30_000 });
const { uploadId } = await m.attachmentUploadBegin({ conversationId, name: 'dropped.bin', type: 'application/octet-stream', size: bytes.length, caption: 'dropped on the chat', jobId: 'window' });
for (let at = 0; at < bytes.length; at += 1024 * 1024) {
  await m.attachmentUploadChunk({ uploadId, offset: at, bytes: bytes.subarray(at, at + 1024 * 1024).toString('base64') });
}
await m.attachmentUploadCommit({ uploadId });
writeSync(1, 'finished\n');
setInterval(() => undefined, 1000);
