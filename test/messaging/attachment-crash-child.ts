// Child process of attachment-crash.test.ts: unlocks alice's profile, stages part of a window
// upload (chunks sealed in the vault, no message yet), starts saving her own copy of a large
// file to OUT, and SIGKILLs itself as soon as the save's temporary .part file exists: the state a
// crash leaves.
import { existsSync, readdirSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { openMessenger } from '../../main/messenger.ts';
import { TEST_KDF } from '../../main/vault/index.ts';

const [profileDir, conversationId, attachmentId, out] = process.argv.slice(2) as [string, string, string, string];
const m = await openMessenger({ profileDir, kdf: TEST_KDF });
await m.unlock({ password: process.env.ATTACH_CRASH_PASSWORD ?? '' });
await m.sync({ timeoutMs: 30_000 });
const { uploadId } = await m.attachmentUploadBegin({ conversationId, name: 'half.bin', type: '', size: 10 * 65_536 });
for (let i = 0; i < 3; i++) await m.attachmentUploadChunk({ uploadId, offset: i * 65_536, bytes: Buffer.alloc(65_536, 0x5a).toString('base64') });
writeSync(1, 'staged\n');
const dir = dirname(out);
const watch = setInterval(() => {
  if (readdirSync(dir).some((n) => n.endsWith('.part'))) process.kill(process.pid, 'SIGKILL');
}, 0);
void m.saveAttachment({ attachmentId, path: out }).then(() => {
  clearInterval(watch);
  writeSync(1, existsSync(out) ? 'saved before the kill\n' : 'no file\n');
  process.exit(3);
});
