// The contract's group receipt methods (main/messenger/group-receipts.ts does the work).
import type { EphemeraApi } from '../../shared/api.ts';
import type { GroupActivityCounters } from './group-activity.ts';
import type { GroupReceipts } from './group-receipts.ts';
import type { GroupService } from './groups.ts';
import type { ApiCall } from './session-lifecycle.ts';

export type GroupReceiptMethods = Pick<EphemeraApi, 'groupReceipts' | 'groupMarkRead' | 'groupsActivity' | 'groupHistory'>;

/**
 * The contract's group receipt methods. `groupHistory` is groups-api.ts's with the counts on own
 * texts: the facade takes this table after that one.
 */
export function groupReceiptMethods(call: ApiCall, receipts: GroupReceipts, groups: Pick<GroupService, 'historyShown'>, activity: GroupActivityCounters): GroupReceiptMethods {
  return {
    groupReceipts: (params) => call(() => receipts.details(params.groupId, params.messageId)),
    groupMarkRead: (params) =>
      call(async () => {
        await receipts.markRead(params.groupId, params.upToMessageId);
        activity.recount(params.groupId);
      }),
    // Kept between changes (group-activity.ts), not read from the history per call.
    groupsActivity: () => call(() => activity.all()),
    groupHistory: (params) => call(() => receipts.decorate(groups.historyShown(params))),
  };
}
