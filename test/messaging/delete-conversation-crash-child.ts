// Child process for delete-conversation-crash.test.ts: unlocks the profile (no relay connection)
// and starts the messenger's sliced deletion of a whole conversation, exactly as "delete
// conversation" runs it (messenger/deletion-slices.ts), then is killed (SIGKILL) right after the
// first slice committed: the slices not reached, the journal pass, search and the withdraws to
// send are all left to the next unlock.
import { deleteConversationInSlices } from '../../main/messenger/deletion-slices.ts';
import { textIdempotencyKey, withIdKey } from '../../main/messenger/ids.ts';
import { Vault } from '../../main/vault/index.ts';

const [profile, password, conversationId] = process.argv.slice(2) as [string, string, string];
const vault = await Vault.unlock(profile, password);
await deleteConversationInSlices(
  vault,
  (contentId) => withIdKey(vault, (k) => textIdempotencyKey(k, contentId)),
  conversationId,
  {
    sliceMs: 0.001,
    onProgress: (done, total) => {
      process.stdout.write(`${JSON.stringify({ done, total })}\n`);
      process.kill(process.pid, 'SIGKILL');
    },
  },
);
process.stdout.write('not killed\n');
