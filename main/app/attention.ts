// What the Electron shell does to get the user's attention: the unread total on the dock/taskbar
// badge, and a system notification for a new message while the window is not in front (what it
// says follows the notification privacy setting; while locked never more than "New message").
// Clicking a notification brings the window forward and asks the page to open that chat (an
// `openConversation` event merged into the service's events). No Electron import here: app.ts
// passes the few calls it needs, so this is testable with the fake Electron module.
import type { ApiEvent, EphemeraService, NotificationPrivacy } from '../../shared/api.ts';
import { notificationText } from '../../shared/api/notifications.ts';
import { isNewArrival } from '../../shared/api/disappearing.ts';

export interface ShownNotification {
  close(): void;
}

export interface AttentionShell {
  setBadgeCount(count: number): void;
  /** Whether the app window is in front. */
  isFocused(): boolean;
  /** Brings the window to the front. */
  focus(): void;
  /** Shows a system notification and calls onClick if the user clicks it. */
  notify(title: string, body: string, onClick: () => void): ShownNotification | undefined;
}

/** The service as the window sees it (with the shell's events), and a way to stop. */
export function withAttention(service: EphemeraService, shell: AttentionShell): { service: EphemeraService; dispose(): void } {
  const unread = new Map<string, number>();
  const titles = new Map<string, string>();
  const shown = new Set<ShownNotification>();
  // What a notification on screen announced: it closes when its message is deleted or expires.
  const shownFor = new Map<ShownNotification, { conversationId: string; messageId: string }>();
  const closeWhere = (pred: (m: { conversationId: string; messageId: string }) => boolean) => {
    for (const [n, m] of shownFor) {
      if (!pred(m)) continue;
      n.close();
      shown.delete(n);
      shownFor.delete(n);
    }
  };
  const extraListeners = new Set<(event: ApiEvent) => void>();
  let privacy: NotificationPrivacy = 'sender';
  let unlocked = false;

  const updateBadge = () => shell.setBadgeCount([...unread.values()].reduce((a, b) => a + b, 0));
  const reload = async () => {
    try {
      const list = await service.conversationsList({});
      unread.clear();
      for (const c of list) {
        unread.set(c.id, c.unread);
        titles.set(c.id, c.title);
      }
    } catch {
      unread.clear(); // locked meanwhile
    }
    updateBadge();
  };
  const forget = () => {
    unlocked = false;
    unread.clear();
    titles.clear();
    // Nothing that names a sender or a text stays on screen once the vault is locked.
    for (const n of shown) n.close();
    shown.clear();
    shownFor.clear();
    updateBadge();
  };
  const notify = async (conversationId: string, messageId: string, text: string) => {
    if (shell.isFocused() || privacy === 'none') return;
    let sender = titles.get(conversationId);
    if (sender === undefined && unlocked) {
      await reload();
      sender = titles.get(conversationId);
    }
    const content = notificationText(privacy, !unlocked, sender ?? 'New contact', text);
    if (!content) return;
    const n = shell.notify(content.title, content.body, () => {
      shell.focus();
      const event: ApiEvent = { name: 'openConversation', payload: { conversationId } };
      for (const l of extraListeners) l(event);
    });
    if (n) {
      shown.add(n);
      shownFor.set(n, { conversationId, messageId });
    }
  };

  const unsubscribe = service.subscribe((event) => {
    switch (event.name) {
      case 'vault':
        if (event.payload.vault === 'unlocked') {
          unlocked = true;
          void reload();
        } else forget();
        break;
      case 'conversation':
        unread.set(event.payload.id, event.payload.unread);
        titles.set(event.payload.id, event.payload.title);
        updateBadge();
        break;
      case 'settings':
        privacy = event.payload.notifications;
        break;
      case 'message':
        if (isNewArrival(event.payload)) void notify(event.payload.conversationId, event.payload.id, event.payload.text);
        break;
      case 'messagesDeleted': {
        // Deleted for me or expired: its text leaves the screen too (a whole chat: all of its).
        const { conversationId, messageIds, all } = event.payload;
        const ids = new Set(messageIds);
        closeWhere((m) => m.conversationId === conversationId && (all || ids.has(m.messageId)));
        break;
      }
      case 'deletedForEveryone': {
        const ids = new Set(event.payload.messages.map((m) => m.id));
        closeWhere((m) => ids.has(m.messageId));
        break;
      }
      case 'connection':
      case 'contact':
      case 'messageState':
      case 'backupProgress':
      case 'attachmentProgress':
      case 'openConversation':
      case 'locking':
      case 'scrub':
      case 'group':
      case 'groupActivity':
        break;
    }
  });
  void service.settingsGet().then((s) => (privacy = s.notifications), () => undefined);
  void service.vaultStatus().then(
    (s) => {
      if (s.vault === 'unlocked' && !unlocked) {
        unlocked = true;
        void reload();
      }
    },
    () => undefined,
  );

  const wrapped = new Proxy(service, {
    get(target, property) {
      if (property === 'subscribe') {
        return (listener: (event: ApiEvent) => void) => {
          extraListeners.add(listener);
          const off = target.subscribe(listener);
          return () => {
            extraListeners.delete(listener);
            off();
          };
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    service: wrapped,
    dispose: () => {
      unsubscribe();
      forget();
    },
  };
}
