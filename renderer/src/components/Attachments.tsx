// Attachments in a chat (docs/ui.md "Attachments"): sending a File the page holds (picker,
// drop, paste) in 256 KiB chunks over the contract, and showing a message's file as a card,
// with an inline preview for images. Images are decoded here, in the sandboxed renderer, from a
// `blob:` URL built of the bytes main hands back (attachmentRead); main never decodes media.
import { useCallback, useEffect, useRef, useState, type ChangeEvent } from 'react';
import { MAX_ATTACHMENT_IO_BYTES, type Attachment, type Message } from '../../../shared/api.ts';
import { errorText, useApi } from '../api.ts';
import { Dialog } from './Dialog.tsx';

/** Attachments up to this size are fetched and shown without a click (main fetches them on arrival too). */
export const AUTO_SHOW_MAX_BYTES = 2 * 1024 * 1024;
/** Only these are decoded as images; anything else is a file card. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b: string): Uint8Array<ArrayBuffer> {
  const s = atob(b);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function newJobId(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return `job_${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(1)} GB`;
}

/** A short badge for the kind of file (text, so it shows without an emoji font). */
function typeIcon(type: string): string {
  if (IMAGE_TYPES.has(type)) return 'IMG';
  if (type.startsWith('text/')) return 'TXT';
  if (type === 'application/pdf') return 'PDF';
  return 'FILE';
}

/** A paperclip drawn inline (an element, not a resource: nothing for the CSP to allow). */
function PaperclipIcon() {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
    </svg>
  );
}

export interface UploadState {
  jobId: string;
  name: string;
  /** Bytes handed to main, then the sealed bytes the relay acknowledged. */
  done: number;
  total: number;
  phase: 'reading' | 'sending';
}

/** Sends Files of the page to a conversation; progress and cancel per file. */
export function useAttachmentUpload(conversationId: string, onSent: (m: Message) => void, onError: (text: string) => void) {
  const api = useApi();
  const [uploads, setUploads] = useState<UploadState[]>([]);
  const cancelled = useRef(new Set<string>());
  const update = (jobId: string, patch: Partial<UploadState>) => setUploads((u) => u.map((x) => (x.jobId === jobId ? { ...x, ...patch } : x)));

  useEffect(
    () =>
      api.on('attachmentProgress', (p) => {
        setUploads((u) => u.map((x) => (x.jobId === p.jobId && x.phase === 'sending' ? { ...x, done: p.done, total: p.total } : x)));
      }),
    [api],
  );

  const sendOne = useCallback(
    async (file: File) => {
      const jobId = newJobId();
      setUploads((u) => [...u, { jobId, name: file.name || 'file', done: 0, total: file.size, phase: 'reading' }]);
      let uploadId: string | undefined;
      try {
        const begun = await api.attachmentUploadBegin({ conversationId, name: file.name || 'file', type: file.type, size: file.size, jobId });
        uploadId = begun.uploadId;
        for (let at = 0; at < file.size; at += MAX_ATTACHMENT_IO_BYTES) {
          if (cancelled.current.has(jobId)) {
            await api.attachmentUploadCancel({ uploadId });
            return;
          }
          const bytes = new Uint8Array(await file.slice(at, at + MAX_ATTACHMENT_IO_BYTES).arrayBuffer());
          await api.attachmentUploadChunk({ uploadId, offset: at, bytes: toBase64(bytes) });
          update(jobId, { done: Math.min(file.size, at + bytes.length) });
        }
        if (cancelled.current.has(jobId)) {
          await api.attachmentUploadCancel({ uploadId });
          return;
        }
        update(jobId, { phase: 'sending', done: 0 });
        onSent(await api.attachmentUploadCommit({ uploadId }));
      } catch (e) {
        if (!cancelled.current.has(jobId)) onError(`${file.name || 'The file'} was not sent: ${errorText(e)}`);
      } finally {
        cancelled.current.delete(jobId);
        setUploads((u) => u.filter((x) => x.jobId !== jobId));
      }
    },
    [api, conversationId, onSent, onError],
  );

  const sendFiles = useCallback((files: readonly File[]) => {
    for (const f of files) void sendOne(f);
  }, [sendOne]);

  const cancel = useCallback(
    (u: UploadState) => {
      cancelled.current.add(u.jobId);
      // Sending to the relay: stop the transfer in main (it then rejects with CANCELLED).
      if (u.phase === 'sending') void api.attachmentCancel({ jobId: u.jobId }).catch(() => undefined);
    },
    [api],
  );
  return { uploads, sendFiles, cancel };
}

/** The attach button (keyboard reachable; it opens the system's file picker). */
export function AttachButton({ onFiles, disabled }: { onFiles: (files: File[]) => void; disabled?: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  const picked = (e: ChangeEvent<HTMLInputElement>) => {
    const files = Array.from(e.target.files ?? []);
    e.target.value = '';
    if (files.length > 0) onFiles(files);
  };
  return (
    <>
      <button type="button" className="attach-button" aria-label="Attach a file" title="Attach a file" disabled={disabled} onClick={() => input.current?.click()}>
        <PaperclipIcon />
      </button>
      <input ref={input} type="file" multiple hidden tabIndex={-1} aria-hidden="true" data-testid="attach-input" onChange={picked} />
    </>
  );
}

export function UploadList({ uploads, onCancel }: { uploads: UploadState[]; onCancel: (u: UploadState) => void }) {
  if (uploads.length === 0) return null;
  return (
    <ul className="upload-list" aria-label="Files being sent">
      {uploads.map((u) => (
        <li key={u.jobId} className="upload">
          <span className="upload-name">{u.name}</span>
          <progress max={Math.max(1, u.total)} value={u.done} aria-label={`${u.phase === 'reading' ? 'Preparing' : 'Sending'} ${u.name}`} />
          <button type="button" onClick={() => onCancel(u)}>
            Cancel
          </button>
        </li>
      ))}
    </ul>
  );
}

/**
 * A file as a card shows it; `backupId`: listed by that opened backup, whose bytes main reads
 * from the backup file itself (`downloaded`: they are in it), before or without an import.
 */
export type ShownAttachment = Attachment & { backupId?: string };

/** Which of these messages (a 1:1 chat's or a group's) carry a file (of the opened backup `backupId`, when set); asked once per message id. */
export function useAttachmentsOf(messages: readonly Pick<Message, 'id' | 'deleted'>[], backupId: string | null = null): Map<string, ShownAttachment> {
  const api = useApi();
  const [found, setFound] = useState(() => new Map<string, ShownAttachment>());
  const asked = useRef(new Set<string>());
  useEffect(() => {
    const ids = messages.filter((m) => !m.deleted && !asked.current.has(m.id)).map((m) => m.id).slice(0, 500);
    if (ids.length === 0) return;
    ids.forEach((id) => asked.current.add(id));
    api.attachmentsOf({ messageIds: ids, ...(backupId ? { backupId } : {}) }).then(
      (list) => {
        if (list.length > 0) setFound((f) => new Map([...f, ...list.map((a) => [a.messageId, backupId ? { ...a, backupId } : a] as const)]));
      },
      () => ids.forEach((id) => asked.current.delete(id)),
    );
  }, [api, messages, backupId]);
  return found;
}

/** The plaintext of a downloaded attachment (or one in an opened backup) as a Blob, read in bounded chunks. */
async function readBlob(api: ReturnType<typeof useApi>, a: ShownAttachment): Promise<Blob> {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  const source = a.backupId ? { backupId: a.backupId } : {};
  for (let at = 0; at < a.size; at += MAX_ATTACHMENT_IO_BYTES) {
    const r = await api.attachmentRead({ attachmentId: a.id, offset: at, length: MAX_ATTACHMENT_IO_BYTES, ...source });
    parts.push(fromBase64(r.bytes));
  }
  return new Blob(parts, { type: IMAGE_TYPES.has(a.type) ? a.type : 'application/octet-stream' });
}

/** A message's file: a card (name, size, type icon, Save), with an inline preview for an image. */
export function AttachmentCard({ attachment }: { attachment: ShownAttachment }) {
  const api = useApi();
  const [a, setA] = useState(attachment);
  const [url, setUrl] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [viewing, setViewing] = useState(false);
  const image = IMAGE_TYPES.has(a.type);

  // Whether the card is on screen: a load that finishes after it left makes no object URL.
  const mounted = useRef(false);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  /**
   * Fetches the bytes and makes the one object URL the card shows. `wanted` is asked before
   * anything changes: a load its caller gave up on (the card left, or its mount effect was
   * cleaned up, as StrictMode does once in development) creates no URL and touches no state, so
   * the <img> never switches to a second URL mid-load (which aborted the first load).
   */
  const load = useCallback(async (wanted: () => boolean = () => mounted.current): Promise<string | null> => {
    setBusy(true);
    setError('');
    try {
      // A backup's file is read from the backup file; nothing is fetched from the relay for it.
      const now: ShownAttachment = a.downloaded || a.backupId ? a : await api.attachmentDownload({ attachmentId: a.id });
      const blob = await readBlob(api, now);
      if (!wanted()) return null;
      setA(now);
      const made = URL.createObjectURL(blob);
      setUrl((old) => {
        if (old && old !== made) URL.revokeObjectURL(old);
        return made;
      });
      return made;
    } catch (e) {
      if (wanted()) setError(errorText(e));
      return null;
    } finally {
      if (wanted()) setBusy(false);
    }
  }, [a, api]);

  useEffect(() => {
    if (!image || a.size > AUTO_SHOW_MAX_BYTES || url !== null || (a.backupId && !a.downloaded)) return;
    let wanted = true;
    void load(() => wanted);
    return () => {
      wanted = false;
    };
    // Only on mount (deliberately no dependencies): a failure shows an error and a button instead of retrying in a loop.
  }, []);
  useEffect(() => () => {
    if (url) URL.revokeObjectURL(url);
  }, [url]);

  async function save() {
    // The desktop app asks where with main's native "Save as…" dialog and main writes the file
    // there; without one (browser mode: NOT_AVAILABLE) the page offers a download instead.
    try {
      await api.attachmentSaveAs({ attachmentId: a.id, ...(a.backupId ? { backupId: a.backupId } : {}) });
      return;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'CANCELLED') return;
      if (code !== 'NOT_AVAILABLE') {
        setError(errorText(e));
        return;
      }
    }
    const href = url ?? (await load());
    if (!href) return;
    // The page offers the bytes it already holds as a download; the plaintext is written only
    // where the user's browser puts it.
    const link = document.createElement('a');
    link.href = href;
    link.download = a.name;
    link.rel = 'noopener';
    document.body.append(link);
    link.click();
    link.remove();
  }

  if (a.backupId && !a.downloaded) {
    // Exported without its bytes (or never downloaded before the export): only what it was.
    return (
      <div className="attachment-card" data-attachment-id={a.id}>
        <div className="attachment-info">
          <AttachmentLabel a={a} />
          <span className="hint">Not in the backup</span>
        </div>
      </div>
    );
  }

  return (
    <div className="attachment-card" data-attachment-id={a.id}>
      {image && url ? (
        <button type="button" className="attachment-preview" onClick={() => setViewing(true)} aria-label={`Enlarge image ${a.name}`}>
          <img src={url} alt={a.name} />
        </button>
      ) : null}
      <div className="attachment-info">
        <AttachmentLabel a={a} />
        {image && !url && !busy ? (
          <button type="button" onClick={() => void load()}>
            Show image
          </button>
        ) : null}
        <button type="button" onClick={() => void save()} disabled={busy} aria-label={`Save ${a.name}`}>
          {busy ? 'Loading…' : 'Save'}
        </button>
      </div>
      {error ? <p role="alert" className="error">{error}</p> : null}
      {viewing && url ? (
        <Dialog title={a.name} wide onClose={() => setViewing(false)}>
          <img className="attachment-full" src={url} alt={a.name} />
        </Dialog>
      ) : null}
    </div>
  );
}

/** The file's type icon, name and size, as every card shows them. */
function AttachmentLabel({ a }: { a: Attachment }) {
  return (
    <>
      <span className="attachment-icon" aria-hidden="true">
        {typeIcon(a.type)}
      </span>
      <span className="attachment-name">{a.name}</span>
      <span className="attachment-size">{formatBytes(a.size)}</span>
    </>
  );
}
