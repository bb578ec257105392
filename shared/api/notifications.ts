// What a new-message notification may say, one policy for both hosts: the renderer (Web
// Notifications in browser mode) and main (Electron's Notification in the app).
import type { NotificationPrivacy } from '../api.ts';

export interface NotificationText {
  title: string;
  body: string;
}

/**
 * What a new-message notification may say. Locked: only "New message" (no sender, no text),
 * whatever the setting. 'none': no notification at all.
 */
export function notificationText(privacy: NotificationPrivacy, locked: boolean, sender: string, text: string): NotificationText | null {
  if (privacy === 'none') return null;
  if (locked) return { title: 'New message', body: '' };
  if (privacy === 'sender') return { title: sender, body: 'New message' };
  return { title: sender, body: text.length > 200 ? `${text.slice(0, 199)}…` : text };
}
