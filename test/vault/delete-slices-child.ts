// Child process for the sliced-deletion crash test: unlocks the profile, opens the search index
// (from its sealed snapshot, which holds the words), starts a sliced deletion and is killed
// (SIGKILL) right after its first slice committed, before the rest and before search heard of it.
import { SearchService } from '../../main/search/service.ts';
import { Vault } from '../../main/vault/index.ts';

const [profile, password, conversationId, ids] = process.argv.slice(2) as [string, string, string, string];
const vault = await Vault.unlock(profile, password);
await SearchService.open(vault);
await vault.deleteMessagesInSlices(conversationId, JSON.parse(ids) as string[], {
  sliceMs: 0.001,
  onProgress: (done, total) => {
    process.stdout.write(`${JSON.stringify({ done, total })}\n`);
    process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write('not killed\n');
