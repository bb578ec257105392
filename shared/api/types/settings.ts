// Non-secret settings of a profile (shared/api.ts).
import { z } from 'zod';

export const Theme = z.enum(['system', 'light', 'dark']);
/**
 * What a new-message notification shows: sender and text, the sender only (default), or no
 * notification at all. While the vault is locked it never says more than "New message".
 */
export const NotificationPrivacy = z.enum(['full', 'sender', 'none']);

export const Settings = z.strictObject({
  /** URL of the configured relay (from its descriptor), or null when none is configured. */
  relayUrl: z.string().max(2048).nullable(),
  /** 0 = never. */
  autoLockMinutes: z.number().int().min(0).max(24 * 60),
  theme: Theme,
  notifications: NotificationPrivacy,
  /** Images are sent with their metadata (EXIF, GPS, text chunks). Default false: stripped before encryption. Always present in a settings view. */
  keepImageMetadata: z.boolean(),
});

export type Theme = z.infer<typeof Theme>;
export type NotificationPrivacy = z.infer<typeof NotificationPrivacy>;
export type Settings = z.infer<typeof Settings>;
