/**
 * Shown while texts from others arrived below a reader who scrolled up (chat/use-follow-end.ts):
 * says how many, and takes the chat to its end. A button, so Tab and Enter reach it; in a polite
 * live region, so a screen reader hears the count as it changes.
 */
export function JumpToNewest({ unseen, onJump }: { unseen: number; onJump: () => void }) {
  return (
    <div className="jump-newest-region" aria-live="polite">
      {unseen > 0 ? (
        <button type="button" className="jump-newest" onClick={onJump}>
          {unseen === 1 ? '1 new message' : `${unseen} new messages`}
          <span aria-hidden="true"> ↓</span>
        </button>
      ) : null}
    </div>
  );
}
