// The one chat list (screens/ChatList.tsx): 1:1 conversations and groups together, by last
// activity, and the labels of group receipts. Pure functions, unit-tested in test/renderer.
import type { ConversationSummary, GroupActivity, GroupInfo, GroupMessage } from '../../../shared/api.ts';
import { DELIVERY_LABELS } from '../logic.ts';

export type ChatEntry =
  | { kind: 'direct'; id: string; lastActivity: number; unread: number; conversation: ConversationSummary }
  | { kind: 'group'; id: string; lastActivity: number; unread: number; group: GroupInfo; activity: GroupActivity | undefined };

/** Newest activity first; a group without activity yet sorts by nothing newer than 0, then by name. */
export function chatEntries(conversations: readonly ConversationSummary[], groups: readonly GroupInfo[], activity: readonly GroupActivity[]): ChatEntry[] {
  const byGroup = new Map(activity.map((a) => [a.groupId, a]));
  const entries: ChatEntry[] = [
    ...conversations.map((c): ChatEntry => ({ kind: 'direct', id: c.id, lastActivity: c.lastActivity, unread: c.unread, conversation: c })),
    ...groups.map((g): ChatEntry => {
      const a = byGroup.get(g.groupId);
      return { kind: 'group', id: g.conversationId, lastActivity: a?.lastActivity ?? 0, unread: a?.unread ?? 0, group: g, activity: a };
    }),
  ];
  const title = (e: ChatEntry) => (e.kind === 'direct' ? e.conversation.title : e.group.name);
  return entries.sort((a, b) => b.lastActivity - a.lastActivity || title(a).localeCompare(title(b)));
}

/** The list with one group's entry replaced (a `groupActivity` event), or added; the same list if nothing moved. */
export function withActivity(list: readonly GroupActivity[], a: GroupActivity): readonly GroupActivity[] {
  const at = list.findIndex((x) => x.groupId === a.groupId);
  if (at < 0) return [...list, a];
  if (JSON.stringify(list[at]) === JSON.stringify(a)) return list;
  return list.map((x, i) => (i === at ? a : x));
}

/**
 * The groups with one group's info as main stated it (a `group` event, or the answer to a change
 * or a reload), unless the shown info is newer: `revision` counts the group's changes, and an
 * answer computed before a change that came as an event meanwhile must not take the group back
 * (main answers a change once it is sent to the members, and changes arrive during that send).
 * `add`: a group not listed yet joins the list, by name (events; answers only update listed
 * groups). The same list if nothing shown changes.
 */
export function withGroupInfo(list: readonly GroupInfo[], g: GroupInfo, add: boolean): readonly GroupInfo[] {
  const at = list.findIndex((x) => x.groupId === g.groupId);
  if (at < 0) return add ? [...list, g].sort((a, b) => a.name.localeCompare(b.name)) : list;
  const shown = list[at]!;
  if (shown.revision > g.revision || JSON.stringify(shown) === JSON.stringify(g)) return list;
  return list.map((x, i) => (i === at ? g : x));
}

/** "Read by 2 of 3", "Delivered to 1 of 3", or the message's own state before any receipt. */
export function groupReceiptLabel(m: Pick<GroupMessage, 'state' | 'receipts'>): string {
  const r = m.receipts;
  if (!r || r.of === 0 || m.state === 'queued' || m.state === 'failed') return DELIVERY_LABELS[m.state];
  if (r.read > 0) return `Read by ${r.read} of ${r.of}`;
  if (r.delivered > 0) return `Delivered to ${r.delivered} of ${r.of}`;
  return DELIVERY_LABELS[m.state];
}
