// `ephemera delete --group GROUP_ID MESSAGE_ID [--for-everyone]` (commands/messaging.ts hands it
// over): delete for me of one group message, or delete for everyone of an own one sent less than
// 24 h ago (main/messenger/group-delete.ts), through the contract's deleteMessage as the app does.
import { GroupId } from '../../shared/api.ts';
import { waitMs, withClient } from '../client.ts';
import { CliError, ExitCode, printResult, type GlobalOptions } from '../io.ts';

const DEFAULT_WAIT_S = 10;

export async function deleteInGroup(g: GlobalOptions, groupId: string, messageId: string, forEveryone: boolean): Promise<void> {
  if (!GroupId.safeParse(groupId).success) throw new CliError(`"${groupId.slice(0, 40)}" is not a group id: 32 hex characters, from group create or groups --json.`, ExitCode.USAGE);
  const result = await withClient(g, DEFAULT_WAIT_S, async (api): Promise<{ deleted: number; outbox?: number }> => {
    const r = await api.deleteMessage({ conversationId: `g${groupId}`, messageId, ...(forEveryone ? { forEveryone: true } : {}) });
    if (!forEveryone) return { deleted: r.deleted };
    // The notice goes out before the profile locks when the relay is there.
    await api.sync({ timeoutMs: waitMs(DEFAULT_WAIT_S), quietMs: 100 });
    return { deleted: r.deleted, outbox: (await api.connectionState()).outboxSize };
  });
  const human = forEveryone
    ? `Deleted message ${messageId} for everyone in the group${(result.outbox ?? 0) > 0 ? ' here; the notice to the members is queued (sealed) and goes out with the next send or sync' : ''}.`
    : `Deleted message ${messageId}.`;
  printResult(g.json, human, { deleted: result.deleted, id: messageId, group: groupId, ...(result.outbox === undefined ? {} : { forEveryone: true, outbox: result.outbox }) });
}
