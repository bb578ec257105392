// The contract's attachment methods: a file sent by path (the CLI), the window's chunked
// uploads and reads (messenger/attachment-ui.ts), listing, saving to a path and cancelling
// transfers (messenger/attachments.ts). Uploads run before the send queue: they may take long.
// A group conversation's id (`g<group id>`) sends to the group (messenger/group-files.ts).
import { ApiError, type EphemeraApi, type Message } from '../../shared/api.ts';
import type { BackupArchive } from '../backup/index.ts';
import { apiErrorOf, asJob, attachmentsOf, cancelTransfer, saveAttachment, uploadAttachment, type UploadedAttachment } from './attachments.ts';
import { readFromBackup, saveFromBackup } from './backup-attachment-read.ts';
import type { AttachmentUi } from './attachment-ui.ts';
import type { BackupJobs } from './backups.ts';
import { isGroupConversation } from './group-delete.ts';
import { groupFilesOf } from './group-files.ts';
import type { Emit } from './events.ts';
import { contactIdOfConversation } from './ids.ts';
import type { SessionAccess } from './session.ts';
import type { ApiCall } from './session-lifecycle.ts';

export type AttachmentMethods = Pick<
  EphemeraApi,
  | 'sendFile'
  | 'attachmentLimits'
  | 'attachmentUploadBegin'
  | 'attachmentUploadChunk'
  | 'attachmentUploadCommit'
  | 'attachmentUploadCancel'
  | 'attachmentDownload'
  | 'attachmentRead'
  | 'attachmentsOf'
  | 'saveAttachment'
  | 'attachmentSaveAs'
  | 'attachmentCancel'
>;

export interface AttachmentCallParts {
  call: ApiCall;
  access: SessionAccess;
  emit: Emit;
  ui: AttachmentUi;
  /** The opened backups, whose files attachmentsOf lists, and saveAttachment and attachmentRead give, by backupId. */
  backups?: Pick<BackupJobs, 'attachmentsOf' | 'opened'>;
  /** Stores, encrypts and announces an uploaded attachment (Sender.sendUploaded). */
  sendUploaded(conversationId: string, up: UploadedAttachment, caption: string | undefined): Promise<Message>;
}

export function attachmentMethods({ call, access, emit, ui, backups, sendUploaded }: AttachmentCallParts): AttachmentMethods {
  /** Progress events for a caller-named job; none without a jobId. */
  const opened = (backupId: string): BackupArchive => {
    if (!backups) throw new ApiError('UNKNOWN_BACKUP', 'No backup with that id is open.');
    return backups.opened(backupId);
  };
  const transfer = (jobId: string | undefined): { onProgress?: (done: number, total: number) => void; jobId?: string } => {
    const onProgress = jobId === undefined ? undefined : (done: number, total: number): void => emit('attachmentProgress', { jobId, done, total });
    return { ...(onProgress ? { onProgress } : {}), ...(jobId !== undefined ? { jobId } : {}) };
  };
  return {
    sendFile: (params) =>
      call(async () => {
        access.registration();
        if (isGroupConversation(params.conversationId)) {
          // One upload naming every current member, then one announcement to the group (group-files.ts).
          const files = groupFilesOf(access.require().vault);
          const groupId = params.conversationId.slice(1);
          const to = files.recipients(groupId);
          const conn = access.current()?.connection;
          if (!conn) throw new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
          const up = await uploadAttachment(conn.calls, params.path, to, params.name, { ...transfer(params.jobId), keepMetadata: ui.keepMetadata(), vault: access.require().vault });
          return files.announce(groupId, up, params.caption);
        }
        const contactId = contactIdOfConversation(params.conversationId);
        const contact = contactId ? access.require().vault.getContact(contactId) : undefined;
        if (!contact) throw new ApiError('UNKNOWN_CONVERSATION', 'There is no such conversation.');
        const conn = access.current()?.connection;
        if (!conn) throw new ApiError('NOT_REGISTERED', 'Not connected to a relay.');
        const up = await uploadAttachment(conn.calls, params.path, [contact.handle], params.name, { ...transfer(params.jobId), keepMetadata: ui.keepMetadata(), vault: access.require().vault });
        return sendUploaded(params.conversationId, up, params.caption);
      }),
    attachmentLimits: () => call(() => ui.limits()),
    attachmentUploadBegin: (params) => call(() => ui.begin(params)),
    attachmentUploadChunk: (params) => call(() => access.activity(async () => ui.chunk(params))),
    attachmentUploadCommit: (params) => call(() => ui.commit(params)),
    attachmentUploadCancel: (params) => call(() => ui.cancel(params)),
    attachmentDownload: (params) => call(() => access.activity(() => ui.download(params))),
    attachmentRead: (params) =>
      call(async () => {
        if (params.backupId === undefined) return access.activity(() => ui.read(params));
        const r = await readFromBackup(opened(params.backupId), params.attachmentId, params.offset, params.length);
        return { bytes: r.bytes.toString('base64'), size: r.size };
      }),
    attachmentsOf: (params) =>
      call(async () => {
        if (params.backupId === undefined) return attachmentsOf(access.require().vault, params.messageIds);
        if (!backups) throw new ApiError('UNKNOWN_BACKUP', 'No backup with that id is open.');
        return backups.attachmentsOf(params.backupId, params.messageIds);
      }),
    saveAttachment: (params) =>
      call(async () => {
        const o = transfer(params.jobId);
        if (params.backupId !== undefined) {
          const archive = opened(params.backupId);
          return asJob(params.jobId, {}, (jo) => saveFromBackup(archive, params.attachmentId, params.path, jo.signal ? { signal: jo.signal } : {})).catch((e: unknown) => {
            throw apiErrorOf(e);
          });
        }
        return access.activity(() => saveAttachment(access.require().vault, access.current()?.connection?.calls, params.attachmentId, params.path, o));
      }),
    // Only the desktop app has a native dialog (main/backup-files.ts answers it there).
    attachmentSaveAs: () => call(() => Promise.reject(new ApiError('NOT_AVAILABLE', 'There is no file dialog here: save the attachment to a path instead.'))),
    attachmentCancel: (params) => call(() => ({ cancelled: cancelTransfer(params.jobId) })),
  };
}
