// The head of a 1:1 chat (screens/Chat.tsx): avatar, name, handle beside a nickname, verified
// mark, nickname, timer and safety number buttons, and the banners under it (a held safety
// number change, history from an unsigned backup).
import type { ConversationSummary } from '../../../shared/api.ts';
import { Avatar } from '../components/Avatar.tsx';
import { TimerMenu } from '../components/Disappearing.tsx';

export function ChatHeader({
  conversation,
  handle,
  readOnly,
  onShowSafetyNumber,
  onRename,
  onError,
}: {
  conversation: ConversationSummary;
  /** The contact's handle, shown next to a nickname. */
  handle: string | null;
  readOnly: boolean;
  onShowSafetyNumber: () => void;
  onRename?: (() => void) | undefined;
  onError: (text: string) => void;
}) {
  const nicknamed = handle !== null && handle !== conversation.title;
  return (
    <>
      <header className="chat-head">
        <Avatar contactId={conversation.contactId} name={conversation.title} />
        <h2 id="chat-title">
          {conversation.title}
          {nicknamed ? <span className="handle"> @{handle}</span> : null}
          {conversation.verified ? <span className="badge verified" title="Safety number verified"> ✓ verified</span> : null}
        </h2>
        {onRename && !readOnly ? (
          <button type="button" onClick={onRename}>
            Nickname
          </button>
        ) : null}
        {readOnly ? null : <TimerMenu conversationId={conversation.id} seconds={conversation.timerSeconds ?? 0} onError={onError} />}
        <button type="button" onClick={onShowSafetyNumber}>
          Safety number
        </button>
      </header>
      {conversation.identityChanged ? (
        <div className="banner warn" role="alert">
          <span>{conversation.title}{nicknamed ? ` (@${handle})` : ''}&apos;s safety number has changed. Messages to them are held until you compare and accept the new one.</span>
          <button type="button" onClick={onShowSafetyNumber}>
            Review safety number
          </button>
        </div>
      ) : null}
      {conversation.importedUnverified ? (
        <div className="banner info" role="note">
          <span>Some messages here came from a backup that was not signed by you: they may have been written by someone else.</span>
        </div>
      ) : null}
    </>
  );
}
