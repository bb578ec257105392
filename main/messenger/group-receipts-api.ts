// The contract's group receipt methods (main/messenger/group-receipts.ts does the work).
import type { EphemeraApi } from '../../shared/api.ts';
import type { GroupReceipts } from './group-receipts.ts';
import type { GroupService } from './groups.ts';
import type { ApiCall } from './session-lifecycle.ts';

export type GroupReceiptMethods = Pick<EphemeraApi, 'groupReceipts' | 'groupMarkRead' | 'groupsActivity' | 'groupHistory'>;

/**
 * The contract's group receipt methods. `groupHistory` is groups-api.ts's with the counts on own
 * texts: the facade takes this table after that one.
 */
export function groupReceiptMethods(call: ApiCall, receipts: GroupReceipts, groups: Pick<GroupService, 'history'>): GroupReceiptMethods {
  return {
    groupReceipts: (params) => call(() => receipts.details(params.groupId, params.messageId)),
    groupMarkRead: (params) => call(() => receipts.markRead(params.groupId, params.upToMessageId)),
    groupsActivity: () => call(() => receipts.activity()),
    groupHistory: (params) => call(() => receipts.decorate(groups.history(params))),
  };
}
