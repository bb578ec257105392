// settings.json in the profile directory: non-secret preferences readable without the password
// (auto-lock, theme, whether the recovery phrase was confirmed). Anything about the account
// (handle, relay descriptor) lives sealed in the vault instead.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ParamsOf, Settings } from '../../shared/api.ts';
import { writeFileAtomic } from '../../shared/atomic-write.ts';

export const SETTINGS_FILE = 'settings.json';

const FileSchema = z.object({
  autoLockMinutes: z.number().int().min(0).max(24 * 60).default(15),
  theme: z.enum(['system', 'light', 'dark']).default('system'),
  notifications: z.enum(['full', 'sender', 'none']).default('sender'),
  recoveryConfirmed: z.boolean().default(false),
  /** Send images with their EXIF/GPS and text metadata (default: stripped before encryption, main/messenger/strip-source.ts). */
  keepImageMetadata: z.boolean().default(false),
});
export type ProfileSettings = z.infer<typeof FileSchema>;

export function readSettings(profileDir: string): ProfileSettings {
  let raw: unknown = {};
  try {
    raw = JSON.parse(readFileSync(join(profileDir, SETTINGS_FILE), 'utf8'));
  } catch {
    // Missing or unreadable: defaults. The file holds no secret, so nothing is lost.
  }
  const parsed = FileSchema.safeParse(raw);
  return parsed.success ? parsed.data : FileSchema.parse({});
}

export function writeSettings(profileDir: string, settings: ProfileSettings): void {
  const path = join(profileDir, SETTINGS_FILE);
  writeFileAtomic(path, `${JSON.stringify(FileSchema.parse(settings), null, 2)}\n`);
}

/** The settings as the API shows them; `relayUrl` is the configured relay's (null while locked). */
export function settingsView(profileDir: string, relayUrl: string | null): Settings {
  const s = readSettings(profileDir);
  return { relayUrl, autoLockMinutes: s.autoLockMinutes, theme: s.theme, notifications: s.notifications, keepImageMetadata: s.keepImageMetadata };
}

/** Writes the preferences a settingsUpdate names (its relay descriptor is the account's: account.ts). */
export function updatePreferences(profileDir: string, params: ParamsOf<'settingsUpdate'>): void {
  writeSettings(profileDir, {
    ...readSettings(profileDir),
    ...(params.autoLockMinutes !== undefined ? { autoLockMinutes: params.autoLockMinutes } : {}),
    ...(params.theme !== undefined ? { theme: params.theme } : {}),
    ...(params.notifications !== undefined ? { notifications: params.notifications } : {}),
    ...(params.keepImageMetadata !== undefined ? { keepImageMetadata: params.keepImageMetadata } : {}),
  });
}
