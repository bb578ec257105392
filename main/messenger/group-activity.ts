// Each group's place in the chat list (GroupActivity: last activity, newest message, unread
// count), kept in memory while unlocked and pushed as `groupActivity` events, so the list never
// reads history per call (the renderer used to ask for every group's activity every 1.5 s, each
// answer a history read and an unread scan per group).
//
// A group's entry is computed in full (group-receipts.ts activityOf: the newest page and the
// scan back to the last read text) once, when first asked, and again only after what can lower
// its count or change its past: marking read, a deletion or an expiry. On the hot path it is
// kept by counting: a member's text stored adds one unread (the `received` hook; counted when
// the `group` change that follows it is applied, and only if its row is there), and any change
// of the group refreshes the newest message from one row. Changes within a moment are
// announced together, one event per group whose entry moved.
import { ApiError, GROUP_ID_RE, type ApiEvent, type GroupActivity, type GroupMessage } from '../../shared/api.ts';
import type { Emit } from './events.ts';
import { groupConversationId } from './group-store.ts';
import { newestFields } from './group-receipts.ts';

/** How long changes gather before the entries are refreshed and announced. */
const ANNOUNCE_MS = 50;

export interface GroupActivityDeps {
  /** Every group of the profile (id and conversation). */
  groups(): readonly { groupId: string; conversationId: string }[];
  /** The group's entry computed from its history (newest page, unread scan). */
  compute(group: { groupId: string; conversationId: string }): GroupActivity;
  /** The group's newest message, if any (UNKNOWN_CONVERSATION once it is gone). */
  newest(groupId: string): GroupMessage | undefined;
  /** Whether a message is stored (a received text's hook ran inside a receive that committed). */
  stored(messageId: string): boolean;
  emit: Emit;
}

type Pending = { full: boolean; received: string[] };

export class GroupActivityCounters {
  private readonly entries = new Map<string, GroupActivity>();
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly d: GroupActivityDeps) {}

  /** Every group's entry (the contract's groupsActivity): computed once per group, then kept. */
  all(): GroupActivity[] {
    this.settle();
    return this.d.groups().map((g) => this.entryOf(g));
  }

  /** A member's text was stored in this group (groups.ts `received`, inside the receive). */
  received(groupId: string, messageId: string): void {
    this.mark(groupId).received.push(messageId);
  }

  /** The group changed (a text or line stored, a send's state, a change applied): its newest message. */
  changed(groupId: string): void {
    this.mark(groupId);
    this.arm();
  }

  /** Its count may have gone down or its past changed (read, deleted, expired): computed again. */
  recount(groupId: string): void {
    this.mark(groupId).full = true;
    this.arm();
  }

  /** The service's own events: a group's messages deleted or expired recount it; a lock forgets all. */
  follow(e: ApiEvent): void {
    if (e.name === 'vault' && e.payload.vault !== 'unlocked') this.clear();
    else if ((e.name === 'messagesDeleted' || e.name === 'deletedForEveryone') && e.payload.conversationId.startsWith('g')) {
      const groupId = e.payload.conversationId.slice(1);
      if (GROUP_ID_RE.test(groupId) && groupConversationId(groupId) === e.payload.conversationId) this.recount(groupId);
    }
  }

  /** Locked: nothing is kept. */
  clear(): void {
    this.entries.clear();
    this.pending.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private mark(groupId: string): Pending {
    let p = this.pending.get(groupId);
    if (!p) this.pending.set(groupId, (p = { full: false, received: [] }));
    return p;
  }

  private arm(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      try {
        for (const a of this.settle()) this.d.emit('groupActivity', a);
      } catch {
        // Locked meanwhile: the next unlock computes afresh.
      }
    }, ANNOUNCE_MS);
  }

  private entryOf(g: { groupId: string; conversationId: string }): GroupActivity {
    let e = this.entries.get(g.groupId);
    if (!e) this.entries.set(g.groupId, (e = this.d.compute(g)));
    return e;
  }

  /** Applies what is pending; returns the entries that moved. */
  private settle(): GroupActivity[] {
    const moved: GroupActivity[] = [];
    for (const [groupId, p] of [...this.pending]) {
      this.pending.delete(groupId);
      const before = this.entries.get(groupId);
      let next: GroupActivity;
      try {
        if (!before || p.full) {
          // Not kept yet, or the count may be lower now: from the history.
          next = this.d.compute({ groupId, conversationId: groupConversationId(groupId) });
        } else {
          // A hook whose receive stored nothing (rolled back) counts nothing.
          const counted = p.received.filter((id) => this.d.stored(id)).length;
          next = { ...before, unread: before.unread + counted, ...newestFields(this.d.newest(groupId)) };
        }
      } catch (e) {
        if (!isUnknownGroup(e)) throw e;
        this.entries.delete(groupId);
        continue;
      }
      this.entries.set(groupId, next);
      if (!before || JSON.stringify(before) !== JSON.stringify(next)) moved.push(next);
    }
    return moved;
  }

}

/** requireGroup's refusal (group-store.ts): the group is gone. */
function isUnknownGroup(e: unknown): boolean {
  return e instanceof ApiError && e.code === 'UNKNOWN_CONVERSATION';
}
