// The contract's conversation methods: the chat list, history pages (of the profile or of an
// opened backup), drafts, sending a text, read marking, deleting, the disappearing timer and
// search. Each is a few lines over the job that does the work (conversations.ts, sending.ts,
// receipts.ts, deleting.ts, group-delete.ts, searching.ts).
import { ApiError, type ConversationSummary, type EphemeraApi } from '../../shared/api.ts';
import type { MessageState, StoredMessage } from '../vault/api.ts';
import type { BackupJobs } from './backups.ts';
import { searchOpenedBackup } from './backups-api.ts';
import { historyPage, messageDetails, readDraft, writeDraft } from './conversations.ts';
import type { ConversationCounters } from './counters.ts';
import type { Deleter } from './deleting.ts';
import type { Emit } from './events.ts';
import { isGroupConversation } from './group-delete.ts';
import type { GroupService } from './groups.ts';
import { markReadUpTo, type ReceiptSender } from './receipts.ts';
import { searchHistory } from './searching.ts';
import type { Sender } from './sending.ts';
import type { ApiCall, SessionLifecycle } from './session-lifecycle.ts';

export type ConversationMethods = Pick<
  EphemeraApi,
  | 'conversationsList'
  | 'historyPage'
  | 'messageDetails'
  | 'getDraft'
  | 'setDraft'
  | 'lockDrafts'
  | 'sendText'
  | 'markRead'
  | 'deleteMessage'
  | 'deleteConversation'
  | 'setDisappearingTimer'
  | 'search'
>;

export interface ConversationApiParts {
  call: ApiCall;
  life: Pick<SessionLifecycle, 'require' | 'current' | 'activity' | 'timers' | 'lockDrafts'>;
  emit: Emit;
  counters: Pick<ConversationCounters, 'summary' | 'flush' | 'announce'>;
  backups: BackupJobs;
  sender: Pick<Sender, 'sendText' | 'sendTimerChange'>;
  deleter: Pick<Deleter, 'message' | 'forEveryone' | 'conversation'>;
  groups: Pick<GroupService, 'deleteMessage' | 'readDraft' | 'writeDraft'>;
  receipts: Pick<ReceiptSender, 'sendRead'>;
  /** Moves a message's state forward only (the facade's, shared with receiving and sending). */
  setState: (messageId: string, state: MessageState) => StoredMessage | undefined;
}

export function conversationMethods(p: ConversationApiParts): ConversationMethods {
  const { call, life, emit, counters, backups } = p;
  const vault = () => life.require().vault;
  const summaryOf = (conversationId: string): ConversationSummary => {
    const summary = counters.summary(conversationId);
    if (!summary) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
    return summary;
  };
  /** A 1:1 or group chat's draft (run inside a vault activity). */
  const anyDraft = (conversationId: string, text: string): void => {
    if (isGroupConversation(conversationId)) p.groups.writeDraft(conversationId, text);
    else writeDraft(vault(), conversationId, text);
  };
  return {
    conversationsList: (params) =>
      call(() => {
        if (params.backupId !== undefined) return backups.conversations(params.backupId);
        return vault().listConversations().map((c) => counters.summary(c.id)).filter((s): s is ConversationSummary => s !== undefined);
      }),
    historyPage: (params) =>
      call(() => {
        if (params.backupId !== undefined) return backups.history(params.backupId, params.conversationId, params.anchor, params.limit);
        const page = historyPage(vault(), params.conversationId, params.anchor, params.limit);
        return life.timers ? life.timers.shown(page, params.anchor) : page;
      }),
    messageDetails: (params) => call(() => messageDetails(vault(), params.messageId)),
    getDraft: (params) => call(() => (isGroupConversation(params.conversationId) ? p.groups.readDraft(params.conversationId) : readDraft(vault(), params.conversationId))),
    setDraft: (params) => call(() => life.activity(async () => anyDraft(params.conversationId, params.text))),
    lockDrafts: (params) =>
      life.lockDrafts(
        params.drafts.length === 0
          ? undefined
          : () => {
              for (const d of params.drafts) {
                try {
                  anyDraft(d.conversationId, d.text);
                } catch (e) {
                  // One chat deleted meanwhile does not cost the others their text.
                  if (!(e instanceof ApiError && e.code === 'UNKNOWN_CONVERSATION')) throw e;
                }
              }
            },
      ),
    sendText: (params) => call(async () => p.sender.sendText(params.conversationId, params.text, params.replyTo)),
    markRead: (params) =>
      call(() =>
        life.activity(async () => {
          const v = vault();
          counters.flush();
          const { conv, newlyRead } = markReadUpTo(v, params.conversationId, params.upToMessageId, (id) => p.setState(id, 'read') !== undefined);
          counters.announce(conv.id);
          const contact = v.getContact(conv.contactId);
          if (contact && newlyRead.length > 0 && life.current()?.registration) p.receipts.sendRead(contact.handle, newlyRead);
        }),
      ),
    deleteMessage: (params) => {
      if (isGroupConversation(params.conversationId)) {
        return call(async () => {
          const r = await p.groups.deleteMessage(params);
          // Its chat-list entry is counted again (group-activity.ts follows this event).
          if (params.forEveryone !== true && r.deleted > 0) emit('messagesDeleted', { conversationId: params.conversationId, messageIds: [params.messageId], all: false });
          return r;
        });
      }
      if (params.forEveryone === true) return call(() => p.deleter.forEveryone(params.conversationId, params.messageId));
      return call(() => p.deleter.message(params.conversationId, params.messageId));
    },
    deleteConversation: (params) => call(() => p.deleter.conversation(params.conversationId)),
    // Set here at once and told to the contact, durably, like a text (messenger/sending.ts).
    setDisappearingTimer: (params) =>
      call(async () => {
        await p.sender.sendTimerChange(params.conversationId, params.seconds);
        const summary = summaryOf(params.conversationId);
        emit('conversation', summary);
        return summary;
      }),
    search: (params) =>
      call(() => {
        if (params.backupId !== undefined) return searchOpenedBackup(backups, params.backupId, params);
        const { vault: v, search } = life.require();
        const result = searchHistory(v, search, params);
        return life.timers ? life.timers.filterHits(result) : result;
      }),
  };
}
