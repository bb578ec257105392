// Browser mode's Web Notifications, each kept with the message it shows, so that it closes when
// that message is deleted for me, deleted for everyone, expires, or its chat is deleted: its text
// must not stay on screen after the message is gone. The Electron shell does the same
// for its own notifications (main/app/attention.ts).
import type { EphemeraClient } from '../../shared/api/rpc.ts';

interface Shown {
  conversationId: string;
  messageId: string;
}

export class ShownNotifications {
  readonly #open = new Map<Notification, Shown>();

  /** Keeps `n` until it closes (by the user, the system, or here). */
  add(n: Notification, conversationId: string, messageId: string): void {
    this.#open.set(n, { conversationId, messageId });
    n.addEventListener('close', () => this.#open.delete(n));
  }

  /** Closes every notification that shows a message `pred` names. */
  closeWhere(pred: (shown: Shown) => boolean): void {
    for (const [n, shown] of [...this.#open]) {
      if (!pred(shown)) continue;
      this.#open.delete(n);
      n.close();
    }
  }

  closeAll(): void {
    this.closeWhere(() => true);
  }

  /** Follows the deletion events (an expiry is a messagesDeleted); returns the unsubscribe. */
  follow(api: Pick<EphemeraClient, 'on'>): () => void {
    const offs = [
      api.on('messagesDeleted', ({ conversationId, messageIds, all }) => {
        const ids = new Set(messageIds);
        this.closeWhere((s) => s.conversationId === conversationId && (all || ids.has(s.messageId)));
      }),
      api.on('deletedForEveryone', ({ messages }) => {
        const ids = new Set(messages.map((m) => m.id));
        this.closeWhere((s) => ids.has(s.messageId));
      }),
    ];
    return () => {
      for (const off of offs) off();
    };
  }
}
