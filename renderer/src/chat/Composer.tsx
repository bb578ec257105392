// The bottom of a 1:1 chat (screens/Chat.tsx): the reply bar, uploads, the attach button and the
// text box (Enter sends, Shift+Enter a new line; a pasted image is sent as a file).
import type { FormEvent, KeyboardEvent, RefObject } from 'react';
import { MAX_TEXT_CHARS, type Message } from '../../../shared/api.ts';
import { AttachButton, UploadList, type useAttachmentUpload } from '../components/Attachments.tsx';
import { useLocking } from '../locking.ts';

export function Composer({
  title,
  held,
  draft,
  onType,
  onSend,
  replyTo,
  onCancelReply,
  files,
  composerRef,
}: {
  title: string;
  /** Sending is held until a changed safety number is accepted. */
  held: boolean;
  draft: string;
  onType: (text: string) => void;
  onSend: (e?: FormEvent) => void;
  replyTo: Message | null;
  onCancelReply: () => void;
  files: ReturnType<typeof useAttachmentUpload>;
  composerRef: RefObject<HTMLTextAreaElement | null>;
}) {
  // While a lock is under way the text stays as it is (a send would be refused, and so would
  // saving what is typed now) until the lock screen replaces it.
  const locking = useLocking();
  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      if (!locking) onSend();
    }
  }
  return (
    <>
      {replyTo ? (
        <div className="reply-bar">
          <span className="reply-label">Replying to {replyTo.direction === 'out' ? 'yourself' : title}:</span>
          <span className="reply-text">{replyTo.text.slice(0, 200)}</span>
          <button type="button" className="icon-button" aria-label="Cancel reply" onClick={onCancelReply}>
            ×
          </button>
        </div>
      ) : null}
      <form className="composer" onSubmit={(e) => onSend(e)}>
        <UploadList uploads={files.uploads} onCancel={files.cancel} />
        <AttachButton onFiles={files.sendFiles} />
        <label htmlFor="composer" className="visually-hidden">
          Message to {title}
        </label>
        <textarea
          ref={composerRef}
          id="composer"
          rows={2}
          value={draft}
          placeholder={held ? 'Sending is held until you accept the new safety number' : 'Write a message (Enter to send, Shift+Enter for a new line)'}
          onChange={(e) => onType(e.target.value)}
          onKeyDown={onKey}
          onPaste={(e) => {
            // A pasted image (a screenshot) is sent as a file; pasted text stays text.
            const pasted = Array.from(e.clipboardData.files);
            if (pasted.length === 0) return;
            e.preventDefault();
            files.sendFiles(pasted);
          }}
          maxLength={MAX_TEXT_CHARS}
          readOnly={locking}
        />
        <button type="submit" className="primary" disabled={locking || draft.trim() === ''}>
          {locking ? 'Locking…' : 'Send'}
        </button>
      </form>
    </>
  );
}
