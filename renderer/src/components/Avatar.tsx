import { avatarHue, initials } from '../daily.ts';

/**
 * Initials on a colour that belongs to the contact (from its id, so a nickname keeps it).
 * Decorative: the name is next to it. The letters are drawn by CSS (data-initials), so they are
 * not part of the text (and accessible name) of the control the avatar sits in.
 */
export function Avatar({ contactId, name }: { contactId: string; name: string }) {
  return <span className="avatar" aria-hidden="true" data-initials={initials(name)} style={{ ['--avatar-hue' as string]: String(avatarHue(contactId)) }} />;
}
