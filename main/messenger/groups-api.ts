// The contract's group methods (main/messenger/groups.ts does the work): reads answer at once;
// changes and group sends run in the send queue, one send at a time like every other send.
import type { EphemeraApi } from '../../shared/api.ts';
import type { GroupService } from './groups.ts';
import type { Sender } from './sending.ts';
import type { ApiCall } from './session-lifecycle.ts';

export type GroupMethods = Pick<
  EphemeraApi,
  'groupsList' | 'groupInfo' | 'groupCreate' | 'groupAdd' | 'groupRemove' | 'groupPromote' | 'groupRename' | 'groupLeave' | 'groupSetTimer' | 'groupAllowAdd' | 'groupSend' | 'groupHistory'
>;

export function groupMethods(call: ApiCall, groups: GroupService, sender: Pick<Sender, 'enqueue'>): GroupMethods {
  const queued = <T>(fn: () => Promise<T>): Promise<T> => call(() => sender.enqueue(fn));
  return {
    groupsList: () => call(() => groups.list()),
    groupInfo: (params) => call(() => groups.infoOf(params.groupId)),
    groupCreate: (params) => queued(() => groups.create(params)),
    groupAdd: (params) => queued(() => groups.add(params)),
    groupRemove: (params) => queued(() => groups.remove(params)),
    groupPromote: (params) => queued(() => groups.promote(params)),
    groupRename: (params) => queued(() => groups.rename(params)),
    groupLeave: (params) => queued(() => groups.leave(params)),
    groupSetTimer: (params) => queued(() => groups.setTimer(params)),
    groupAllowAdd: (params) => queued(() => groups.allowAdd(params)),
    groupSend: (params) => queued(() => groups.send(params)),
    groupHistory: (params) => call(() => groups.historyShown(params)),
  };
}
