// Child process for delete-crash-cli.test.ts: deletes a whole conversation in slices, as the
// app does, and is killed (SIGKILL) right after the first slice: the vault's pending deletion
// and the messenger's journal are left for whoever unlocks next.
import { deleteConversationInSlices } from '../../main/messenger/deletion-slices.ts';
import { Vault } from '../../main/vault/index.ts';

const [profile, password, conversationId] = process.argv.slice(2) as [string, string, string];
const vault = await Vault.unlock(profile, password);
await deleteConversationInSlices(vault, () => '', conversationId, {
  sliceMs: 1,
  onProgress: (done, total) => {
    if (done === 0) return;
    process.stdout.write(`${JSON.stringify({ done, total })}\n`);
    process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write('finished without being killed\n');
