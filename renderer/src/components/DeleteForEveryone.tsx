// "Delete for everyone" in the chat: the action on own messages sent less than 24 h
// ago, its confirmation, and the tombstone ("This message was deleted") that replaces a message
// on both sides. The deletedForEveryone event (from either side) swaps the tombstones in by id.
import { useEffect, useState, type Dispatch, type ReactNode, type SetStateAction } from 'react';
import type { Message } from '../../../shared/api.ts';
import { errorText, useApi } from '../api.ts';
import { Dialog } from './Dialog.tsx';
import { formatTime } from '../logic.ts';

/** Main refuses after this (NOT_AVAILABLE); the action is offered only before it. */
const WINDOW_MS = 24 * 3600 * 1000;

export function canDeleteForEveryone(m: Pick<Message, 'direction' | 'deleted' | 'sentAt'>, now: number): boolean {
  return m.direction === 'out' && m.deleted !== true && now - m.sentAt < WINDOW_MS;
}

export function TombstoneBubble({ message }: { message: Pick<Message, 'id' | 'direction' | 'sentAt'> }) {
  return (
    <div className={`bubble tombstone ${message.direction === 'out' ? 'out' : 'in'}`} data-message-id={message.id}>
      <p className="text">This message was deleted</p>
      <p className="meta">
        <time dateTime={new Date(message.sentAt).toISOString()}>{formatTime(message.sentAt)}</time>
      </p>
    </div>
  );
}

/**
 * The chat's part: `ask(m)` opens the confirmation; `dialog` is rendered by the chat. Tombstones
 * announced by main replace the loaded messages with the same id.
 */
export function useDeleteForEveryone(
  conversationId: string,
  contact: string,
  setMessages: Dispatch<SetStateAction<Message[]>>,
  report: (notice: string, error: string) => void,
): { ask: (m: Message) => void; dialog: ReactNode } {
  const api = useApi();
  const [target, setTarget] = useState<Message | null>(null);
  useEffect(
    () =>
      api.on('deletedForEveryone', (d) => {
        if (d.conversationId !== conversationId) return;
        const byId = new Map(d.messages.map((m) => [m.id, m]));
        setMessages((cur) => cur.map((m) => byId.get(m.id) ?? m));
      }),
    [api, conversationId, setMessages],
  );
  async function confirm(m: Message) {
    setTarget(null);
    try {
      await api.deleteMessage({ conversationId, messageId: m.id, forEveryone: true });
      report(`Deleted the message for everyone. ${contact} sees "This message was deleted".`, '');
    } catch (err) {
      report('', errorText(err));
    }
  }
  const dialog = target ? (
    <Dialog title="Delete this message for everyone?" onClose={() => setTarget(null)}>
      <p>It is erased from this device and replaced by "This message was deleted" for {contact} too. This cannot be undone.</p>
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={() => void confirm(target)}>
          Delete for everyone
        </button>
        <button type="button" onClick={() => setTarget(null)}>
          Cancel
        </button>
      </div>
    </Dialog>
  ) : null;
  return { ask: setTarget, dialog };
}
