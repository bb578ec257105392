import { useCallback, useEffect, useState } from 'react';
import type { ConversationSummary, OpenedBackup, SearchHit, Settings, VaultStatus } from '../../../shared/api/contract.ts';
import { useApi, errorText } from '../api.ts';
import { ConnectionIndicator } from '../components/ConnectionIndicator.tsx';
import { Chat } from './Chat.tsx';
import { ChatList } from './ChatList.tsx';
import { NewContact } from './NewContact.tsx';
import { SafetyNumberDialog } from './SafetyNumberDialog.tsx';
import { SearchDialog } from './SearchDialog.tsx';
import { SettingsDialog } from './SettingsDialog.tsx';

type Panel = { kind: 'none' } | { kind: 'newContact' } | { kind: 'safety'; contactId: string } | { kind: 'search' } | { kind: 'settings' };

export function Messenger({ status, settings }: { status: VaultStatus; settings: Settings }) {
  const api = useApi();
  const [conversations, setConversations] = useState<ConversationSummary[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [focusMessageId, setFocusMessageId] = useState<string | null>(null);
  const [panel, setPanel] = useState<Panel>({ kind: 'none' });
  const [backup, setBackup] = useState<OpenedBackup | null>(null);
  const [error, setError] = useState('');
  const backupId = backup?.backupId ?? null;

  const refresh = useCallback(() => {
    api.conversationsList(backupId ? { backupId } : {}).then(
      (list) => {
        setConversations(list);
        setError('');
      },
      (err: unknown) => setError(errorText(err)),
    );
  }, [api, backupId]);

  useEffect(() => {
    refresh();
    if (backupId) return;
    const offConversation = api.on('conversation', (c) =>
      setConversations((cur) => [c, ...cur.filter((x) => x.id !== c.id)].sort((a, b) => b.lastActivity - a.lastActivity)),
    );
    const offContact = api.on('contact', () => refresh());
    return () => {
      offConversation();
      offContact();
    };
  }, [api, backupId, refresh]);

  // Ctrl+K: search.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setPanel({ kind: 'search' });
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const current = conversations.find((c) => c.id === selected) ?? null;

  function openHit(hit: SearchHit) {
    setPanel({ kind: 'none' });
    setSelected(hit.conversationId);
    setFocusMessageId(hit.messageId);
  }

  async function closeBackup() {
    if (!backup) return;
    await api.backupClose({ backupId: backup.backupId }).catch(() => undefined);
    setBackup(null);
    setSelected(null);
  }

  return (
    <div className="messenger">
      <header className="topbar">
        <span className="brand">Ephemera</span>
        <span className="me">{status.account ? `@${status.account.handle}` : ''}</span>
        <ConnectionIndicator />
        <div className="actions">
          <button type="button" onClick={() => setPanel({ kind: 'search' })} aria-keyshortcuts="Control+K">
            Search
          </button>
          <button type="button" onClick={() => setPanel({ kind: 'settings' })}>
            Settings
          </button>
          <button type="button" onClick={() => void api.lock()} aria-keyshortcuts="Control+Shift+L">
            Lock
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
            <button type="button" className="primary new-contact" onClick={() => setPanel({ kind: 'newContact' })}>
              New contact
            </button>
          )}
          {error ? <p role="alert" className="error">{error}</p> : null}
          <ChatList
            conversations={conversations}
            selectedId={selected}
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
              onShowSafetyNumber={() => setPanel({ kind: 'safety', contactId: current.contactId })}
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
      {panel.kind === 'safety' ? <SafetyNumberDialog contactId={panel.contactId} onClose={() => (setPanel({ kind: 'none' }), refresh())} /> : null}
      {panel.kind === 'search' ? <SearchDialog conversations={conversations} backupId={backupId} onClose={() => setPanel({ kind: 'none' })} onPick={openHit} /> : null}
      {panel.kind === 'settings' ? (
        <SettingsDialog
          settings={settings}
          onClose={() => setPanel({ kind: 'none' })}
          onOpenBackup={(b) => {
            setPanel({ kind: 'none' });
            setBackup(b);
            setSelected(null);
          }}
        />
      ) : null}
    </div>
  );
}
