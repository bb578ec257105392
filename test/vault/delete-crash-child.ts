// Child process for the delete-for-me crash test: unlocks the profile, opens the search index
// (from its sealed snapshot, which holds the words), deletes the messages, and is killed
// (SIGKILL) before the search index hears of it: the snapshot on disk still holds the words.
import { SearchService } from '../../main/search/service.ts';
import { Vault } from '../../main/vault/index.ts';

const [profile, password, conversationId, ids] = process.argv.slice(2) as [string, string, string, string];
const vault = await Vault.unlock(profile, password);
await SearchService.open(vault);
const deleted = vault.deleteMessages(conversationId, JSON.parse(ids) as string[]);
process.stdout.write(`${JSON.stringify({ deleted })}\n`);
process.kill(process.pid, 'SIGKILL');
