// Disappearing messages in the chat (docs/ui.md): the timer menu in the chat header,
// the system line of a timer change, and the time left on a message with a timer. The renderer
// also stops showing a message once its expiry has passed on the page's clock; main deletes it
// within a second of that and announces it (messagesDeleted).
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Message } from '../../../shared/api.ts';
import { DISAPPEARING_SECONDS, disappearingLabel, remainingLabel, timerChangeLine } from '../../../shared/api/disappearing.ts';
import { errorText, useApi } from '../api.ts';

/** The page clock, ticking once a second while `active` (only when a shown message has an expiry). */
export function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/** The messages still to show at `now`. */
export function notExpired<M extends Pick<Message, 'expiresAt'>>(messages: readonly M[], now: number): M[] {
  return messages.filter((m) => !(typeof m.expiresAt === 'number' && m.expiresAt <= now));
}

/** The header control: a menu button whose items are the durations, the current one checked. */
export function TimerMenu({ conversationId, seconds, onError }: { conversationId: string; seconds: number; onError: (text: string) => void }) {
  const api = useApi();
  const [open, setOpen] = useState(false);
  const [current, setCurrent] = useState(seconds);
  useEffect(() => setCurrent(seconds), [seconds]);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const itemRefs = useRef<(HTMLButtonElement | null)[]>([]);
  const checkedIndex = Math.max(0, DISAPPEARING_SECONDS.indexOf(current as (typeof DISAPPEARING_SECONDS)[number]));

  useEffect(() => {
    if (open) itemRefs.current[checkedIndex]?.focus();
  }, [open]);

  function close(refocus: boolean) {
    setOpen(false);
    if (refocus) buttonRef.current?.focus();
  }

  async function choose(s: number) {
    close(true);
    if (s === current) return;
    try {
      const summary = await api.setDisappearingTimer({ conversationId, seconds: s });
      setCurrent(summary.timerSeconds ?? 0);
      onError('');
    } catch (err) {
      onError(errorText(err));
    }
  }

  function onMenuKey(e: KeyboardEvent<HTMLUListElement>) {
    const items = itemRefs.current;
    const at = items.findIndex((el) => el === document.activeElement);
    const move = (i: number) => items[(i + items.length) % items.length]?.focus();
    if (e.key === 'ArrowDown') move(at + 1);
    else if (e.key === 'ArrowUp') move(at - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(items.length - 1);
    else if (e.key === 'Escape') close(true);
    else if (e.key === 'Tab') close(false);
    else return;
    if (e.key !== 'Tab') e.preventDefault();
  }

  const label = current === 0 ? 'off' : disappearingLabel(current);
  return (
    <div className="timer-menu">
      <button
        ref={buttonRef}
        type="button"
        aria-haspopup="menu"
        aria-expanded={open}
        className={current > 0 ? 'timer-on' : undefined}
        onClick={() => setOpen((o) => !o)}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown' && !open) {
            e.preventDefault();
            setOpen(true);
          }
        }}
      >
        {/* The visible text is the accessible name. */}
        Disappearing messages: {label}
      </button>
      {open ? (
        <ul role="menu" aria-label="Disappearing messages" onKeyDown={onMenuKey}>
          {DISAPPEARING_SECONDS.map((s, i) => (
            <li role="none" key={s}>
              <button
                ref={(el) => {
                  itemRefs.current[i] = el;
                }}
                type="button"
                role="menuitemradio"
                aria-checked={s === current}
                tabIndex={-1}
                onClick={() => void choose(s)}
              >
                {s === 0 ? 'Off' : disappearingLabel(s)}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A timer change, shown as a line between the messages. */
export function TimerLine({ message, contactName }: { message: Message; contactName: string }) {
  const seconds = message.timerChange?.seconds ?? 0;
  return (
    <p className="system-line" role="note" data-message-id={message.id}>
      {timerChangeLine(message.direction === 'out' ? 'You' : contactName, seconds)}
    </p>
  );
}

/** The time left on a message with a timer (before a received one is shown: its duration). */
export function Countdown({ message, now }: { message: Pick<Message, 'timerSeconds' | 'expiresAt'>; now: number }) {
  if (message.timerSeconds === undefined) return null;
  const text = typeof message.expiresAt === 'number' ? remainingLabel(message.expiresAt - now) : disappearingLabel(message.timerSeconds);
  const spoken = typeof message.expiresAt === 'number' ? `Disappears in ${text}` : `Disappears ${text} after it is seen`;
  return (
    <span className="countdown" role="timer" aria-label={spoken} title={spoken}>
      {' · '}
      <span aria-hidden="true">{typeof message.expiresAt === 'number' ? `${text} left` : `timer ${text}`}</span>
    </span>
  );
}
