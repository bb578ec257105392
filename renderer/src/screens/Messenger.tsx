import { useCallback, useEffect, useRef, useState } from 'react';
import type { Contact, ConversationSummary, GroupActivity, GroupInfo, OpenedBackup, OpenedBackupGroup, SearchHit, Settings, VaultStatus } from '../../../shared/api.ts';
import { useApi, errorText, useReconnects } from '../api.ts';
import { ConnectionIndicator } from '../components/ConnectionIndicator.tsx';
import { adjacentChat, notificationText, totalUnread, windowTitle } from '../daily.ts';
import { isNewArrival } from '../../../shared/api/disappearing.ts';
import { NicknameDialog } from './NicknameDialog.tsx';
import { ShortcutsDialog } from './ShortcutsDialog.tsx';
import { Chat, forgetSessionDrafts } from './Chat.tsx';
import { ChatList } from './ChatList.tsx';
import { GroupChat, memberName } from './GroupChat.tsx';
import { chatEntries, withActivity, withGroupInfo } from '../chat/group-list.ts';
import { GroupInfoDialog, NewGroupDialog } from './GroupDialogs.tsx';
import { NewContact } from './NewContact.tsx';
import { SafetyNumberDialog } from './SafetyNumberDialog.tsx';
import { SearchDialog } from './SearchDialog.tsx';
import { OpenedGroupChat, openedGroupEntry } from './OpenedGroupChat.tsx';
import { SettingsDialog } from './SettingsDialog.tsx';
import { ShownNotifications } from '../shown-notifications.ts';
import { lockApp, useLocking } from '../locking.ts';

type Panel =
  | { kind: 'none' }
  | { kind: 'newContact' }
  | { kind: 'safety'; contactId: string; back?: Panel }
  | { kind: 'search' }
  | { kind: 'settings' }
  | { kind: 'shortcuts' }
  | { kind: 'nickname'; contactId: string }
  | { kind: 'newGroup' }
  | { kind: 'groupInfo'; groupId: string };

export function Messenger({ status, settings, mode = 'browser' }: { status: VaultStatus; settings: Settings; mode?: 'electron' | 'browser' }) {
  const api = useApi();
  const [conversations, setConversations] = useState<ConversationSummary[]>([]);
  const [contacts, setContacts] = useState<ReadonlyMap<string, Contact>>(new Map());
  const [selected, setSelected] = useState<string | null>(null);
  const [focusMessageId, setFocusMessageId] = useState<string | null>(null);
  const [panel, setPanel] = useState<Panel>({ kind: 'none' });
  const [backup, setBackup] = useState<OpenedBackup | null>(null);
  const [error, setError] = useState('');
  const backupId = backup?.backupId ?? null;
  const [groups, setGroups] = useState<readonly GroupInfo[]>([]);
  /** Each group's last activity and unread count, for its place in the one chat list. */
  const [groupActivity, setGroupActivity] = useState<readonly GroupActivity[]>([]);
  /** An opened backup's groups (read-only, as the file states them). */
  const [openedGroups, setOpenedGroups] = useState<OpenedBackupGroup[]>([]);
  const self = status.account?.handle ?? '';
  const reconnects = useReconnects();
  const locking = useLocking();
  const lockingNow = useRef(locking);
  lockingNow.current = locking;
  // The `group` event updates a group, `groupActivity` its place in the list (main keeps the
  // counts: no history is read for it); after the page's link came back (events sent meanwhile
  // were lost) both load again. No polling.
  useEffect(() => {
    if (backupId) {
      setGroups([]);
      setGroupActivity([]);
      // Dropped when another backup was opened (or this one closed) before it came.
      let current = true;
      setOpenedGroups([]);
      api.backupGroups({ backupId }).then(
        (list) => {
          if (current) setOpenedGroups(list);
        },
        (err: unknown) => {
          if (current) setError(errorText(err));
        },
      );
      return () => {
        current = false;
      };
    }
    setOpenedGroups([]);
    const same = <T,>(cur: T, next: T) => (JSON.stringify(cur) === JSON.stringify(next) ? cur : next);
    const loadActivity = () => api.groupsActivity().then((list) => setGroupActivity((cur) => same(cur, list)), () => undefined);
    const load = () => {
      void api.groupsList().then((list) => setGroups((cur) => same(cur, list)), () => undefined);
      void loadActivity();
    };
    load();
    const offGroup = api.on('group', (g) => setGroups((cur) => withGroupInfo(cur, g, true)));
    const offActivity = api.on('groupActivity', (a) => setGroupActivity((cur) => withActivity(cur, a)));
    return () => {
      offGroup();
      offActivity();
    };
  }, [api, backupId, reconnects]);
  // An answer (a change made in the info panel, a chat's reload) older than what an event showed meanwhile is dropped.
  const groupChanged = useCallback((g: GroupInfo) => setGroups((cur) => withGroupInfo(cur, g, false)), []);

  // The list on screen belongs to one source (live vault or an opened backup): a list that
  // arrives after the source changed is dropped, so a click never opens the other source's chat.
  const listSource = useRef(backupId);
  listSource.current = backupId;
  const refresh = useCallback(() => {
    api.conversationsList(backupId ? { backupId } : {}).then(
      (list) => {
        if (listSource.current !== backupId) return;
        setConversations(list);
        setError('');
      },
      (err: unknown) => setError(errorText(err)),
    );
  }, [api, backupId]);

  const refreshContacts = useCallback(() => {
    api.contactsList().then((list) => setContacts(new Map(list.map((c) => [c.id, c]))), () => undefined);
  }, [api]);

  useEffect(() => {
    refresh();
    refreshContacts();
    if (backupId) return;
    const offConversation = api.on('conversation', (c) =>
      setConversations((cur) => [c, ...cur.filter((x) => x.id !== c.id)].sort((a, b) => b.lastActivity - a.lastActivity)),
    );
    const offContact = api.on('contact', () => {
      refresh();
      refreshContacts();
    });
    return () => {
      offConversation();
      offContact();
    };
  }, [api, backupId, refresh, reconnects]);

  // The unread total in the window title (the Electron shell sets the dock/taskbar badge itself).
  const opened = backupId ? openedGroups.map(openedGroupEntry) : [];
  const entries = backupId ? chatEntries(conversations, opened.map((o) => o.group), opened.map((o) => o.activity)) : chatEntries(conversations, groups, groupActivity);
  const currentOpenedGroup = backupId ? (openedGroups.find((g) => g.conversationId === selected) ?? null) : null;
  const unreadTotal = backupId ? 0 : totalUnread(entries);
  useEffect(() => {
    document.title = windowTitle(unreadTotal);
  }, [unreadTotal]);
  useEffect(
    () => () => {
      document.title = windowTitle(0);
      forgetSessionDrafts();
    },
    [],
  );

  // Keyboard: Ctrl+K search, Ctrl+N new contact, Alt+Up/Down previous/next chat, Ctrl+/ the list.
  // Dialogs close on Escape by themselves (<dialog>).
  const order = useRef<string[]>([]);
  order.current = entries.map((e) => e.id);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // While locking every call is refused: no dialog opens that could only fail.
      if (lockingNow.current) return;
      const ctrl = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (ctrl && !e.shiftKey && !e.altKey && key === 'k') {
        e.preventDefault();
        setPanel({ kind: 'search' });
      } else if (ctrl && !e.shiftKey && !e.altKey && key === 'n') {
        e.preventDefault();
        if (!backupId) setPanel({ kind: 'newContact' });
      } else if (ctrl && !e.altKey && (e.key === '/' || e.code === 'Slash')) {
        e.preventDefault();
        setPanel({ kind: 'shortcuts' });
      } else if (e.altKey && !ctrl && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
        e.preventDefault();
        setSelected((cur) => adjacentChat(order.current, cur, e.key === 'ArrowDown' ? 1 : -1) ?? cur);
        setFocusMessageId(null);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [backupId]);

  // Browser mode: a Web Notification for a new message while the window is not focused (the
  // Electron shell shows its own from main). Clicking it opens the chat.
  const titles = useRef(new Map<string, string>());
  titles.current = new Map(conversations.map((c) => [c.id, c.title]));
  useEffect(() => {
    if (mode !== 'browser' || backupId || typeof Notification === 'undefined') return;
    // Each closes when its message is deleted or expires (shown-notifications.ts).
    const open = new ShownNotifications();
    const unfollow = open.follow(api);
    const off = api.on('message', (m) => {
      if (!isNewArrival(m) || (document.visibilityState === 'visible' && document.hasFocus())) return;
      if (Notification.permission !== 'granted') return;
      const sender = titles.current.get(m.conversationId) ?? contactName(contacts, m.sender);
      const text = notificationText(settings.notifications, status.vault !== 'unlocked', sender, m.text);
      if (!text) return;
      const n = new Notification(text.title, { body: text.body, tag: m.conversationId });
      open.add(n, m.conversationId, m.id);
      n.onclick = () => {
        window.focus();
        setPanel({ kind: 'none' });
        setSelected(m.conversationId);
        setFocusMessageId(null);
        n.close();
      };
    });
    return () => {
      off();
      unfollow();
      // Nothing stays on screen after a lock.
      open.closeAll();
    };
  }, [api, mode, backupId, settings.notifications, status.vault, contacts]);

  // Electron: main shows the notification; a click there asks us to open the chat.
  useEffect(
    () =>
      api.on('openConversation', ({ conversationId }) => {
        setPanel({ kind: 'none' });
        setSelected(conversationId);
        setFocusMessageId(null);
      }),
    [api],
  );

  const current = conversations.find((c) => c.id === selected) ?? null;
  const currentGroup = groups.find((g) => g.conversationId === selected) ?? null;

  function openHit(hit: SearchHit) {
    setPanel({ kind: 'none' });
    setSelected(hit.conversationId);
    setFocusMessageId(hit.messageId);
  }

  async function closeBackup() {
    if (!backup) return;
    await api.backupClose({ backupId: backup.backupId }).catch(() => undefined);
    setConversations([]);
    setBackup(null);
    setSelected(null);
  }

  return (
    // Inert while a lock is under way (locking.ts): every action would be refused; the page
    // stays as it is (the composer keeps its text) until the lock screen replaces it.
    <div className="messenger" inert={locking} aria-busy={locking}>
      <header className="topbar">
        <span className="brand">Ephemera</span>
        <span className="me">{status.account ? `@${status.account.handle}` : ''}</span>
        <ConnectionIndicator />
        <div className="actions">
          <button type="button" onClick={() => setPanel({ kind: 'shortcuts' })} aria-keyshortcuts="Control+/">
            Shortcuts
          </button>
          <button type="button" onClick={() => setPanel({ kind: 'search' })} aria-keyshortcuts="Control+K">
            Search
          </button>
          <button type="button" onClick={() => setPanel({ kind: 'settings' })}>
            Settings
          </button>
          <button type="button" onClick={() => void lockApp(api)} aria-keyshortcuts="Control+Shift+L" disabled={locking}>
            {locking ? 'Locking…' : 'Lock'}
          </button>
        </div>
      </header>
      {!status.recoveryConfirmed ? (
        <div className="banner warn" role="note">
          Your recovery phrase was never confirmed. If you forget your password, this vault cannot be opened.
        </div>
      ) : null}
      {backup ? (
        <div className="banner info" role="note">
          <span>Viewing a backup from {new Date(backup.createdAt).toLocaleString()} (read-only, {backup.messages} messages).</span>
          <button type="button" onClick={() => void closeBackup()}>
            Close backup
          </button>
        </div>
      ) : null}
      <div className="panes">
        <nav className="sidebar" aria-label="Chats">
          {backup ? null : (
            <button type="button" className="primary new-contact" onClick={() => setPanel({ kind: 'newContact' })} aria-keyshortcuts="Control+N">
              New contact
            </button>
          )}
          {backup ? null : (
            <button type="button" className="new-group" onClick={() => setPanel({ kind: 'newGroup' })}>
              New group
            </button>
          )}
          {error ? <p role="alert" className="error">{error}</p> : null}
          <ChatList
            entries={entries}
            selectedId={selected}
            memberName={(h) => memberName(h, self, [...contacts.values()])}
            onSelect={(id) => {
              setSelected(id);
              setFocusMessageId(null);
            }}
          />
        </nav>
        <main className="content">
          {current ? (
            <Chat
              key={`${backupId ?? 'vault'}:${current.id}`}
              conversation={current}
              backupId={backupId}
              focusMessageId={focusMessageId}
              handle={contacts.get(current.contactId)?.handle ?? null}
              onShowSafetyNumber={() => setPanel({ kind: 'safety', contactId: current.contactId })}
              onRename={() => setPanel({ kind: 'nickname', contactId: current.contactId })}
            />
          ) : currentOpenedGroup && backupId ? (
            <OpenedGroupChat key={`${backupId}:${currentOpenedGroup.groupId}`} group={currentOpenedGroup} backupId={backupId} focusMessageId={focusMessageId} />
          ) : currentGroup ? (
            <GroupChat
              key={currentGroup.groupId}
              group={currentGroup}
              focusMessageId={focusMessageId}
              self={self}
              contacts={[...contacts.values()]}
              onInfo={() => setPanel({ kind: 'groupInfo', groupId: currentGroup.groupId })}
              onChanged={groupChanged}
            />
          ) : (
            <p className="empty">Choose a conversation, or press Ctrl+K to search.</p>
          )}
        </main>
      </div>
      {panel.kind === 'newContact' ? (
        <NewContact
          onClose={() => setPanel({ kind: 'none' })}
          onAdded={(contact) => {
            setPanel({ kind: 'none' });
            refresh();
            setSelected(contact.conversationId);
          }}
        />
      ) : null}
      {panel.kind === 'newGroup' ? (
        <NewGroupDialog
          contacts={[...contacts.values()]}
          onClose={() => setPanel({ kind: 'none' })}
          onCreated={(g) => {
            setPanel({ kind: 'none' });
            setGroups((cur) => withGroupInfo(cur, g, true));
            setSelected(g.conversationId);
          }}
        />
      ) : null}
      {panel.kind === 'groupInfo' && groups.some((g) => g.groupId === panel.groupId) ? (
        <GroupInfoDialog
          group={groups.find((g) => g.groupId === panel.groupId)!}
          self={self}
          contacts={[...contacts.values()]}
          onClose={() => setPanel({ kind: 'none' })}
          onChanged={groupChanged}
          onSafetyNumber={(contactId) => setPanel({ kind: 'safety', contactId, back: panel })}
        />
      ) : null}
      {panel.kind === 'shortcuts' ? <ShortcutsDialog onClose={() => setPanel({ kind: 'none' })} /> : null}
      {panel.kind === 'nickname' && contacts.get(panel.contactId) ? (
        <NicknameDialog contact={contacts.get(panel.contactId)!} onClose={() => setPanel({ kind: 'none' })} />
      ) : null}
      {panel.kind === 'safety' ? (
        <SafetyNumberDialog
          contactId={panel.contactId}
          onClose={() => {
            // Back to the group's info panel when opened from there.
            setPanel(panel.back ?? { kind: 'none' });
            refresh();
            refreshContacts();
          }}
        />
      ) : null}
      {panel.kind === 'search' ? <SearchDialog conversations={conversations} groups={backupId ? [] : groups} backupId={backupId} onClose={() => setPanel({ kind: 'none' })} onPick={openHit} /> : null}
      {panel.kind === 'settings' ? (
        <SettingsDialog
          settings={settings}
          onClose={() => setPanel({ kind: 'none' })}
          onOpenBackup={(b) => {
            setPanel({ kind: 'none' });
            setConversations([]);
            setBackup(b);
            setSelected(null);
          }}
        />
      ) : null}
    </div>
  );
}

function contactName(contacts: ReadonlyMap<string, Contact>, contactId: string): string {
  const c = contacts.get(contactId);
  return c ? c.displayName || c.handle : 'Someone';
}
