import { useState } from 'react';
import type { NotificationPrivacy } from '../../../shared/api.ts';

/** What new-message notifications show, and (browser mode) the browser's permission for them. */
export function NotificationSetting({ id, value, onChange }: { id: string; value: NotificationPrivacy; onChange: (v: NotificationPrivacy) => void }) {
  const supported = typeof Notification !== 'undefined';
  const [permission, setPermission] = useState(supported ? Notification.permission : 'denied');
  return (
    <>
      <div className="field">
        <label htmlFor={id}>Notifications for new messages</label>
        <select id={id} value={value} onChange={(e) => onChange(e.target.value as NotificationPrivacy)}>
          <option value="full">Sender and text</option>
          <option value="sender">Sender only</option>
          <option value="none">No notifications</option>
        </select>
      </div>
      <p className="hint">Shown only while Ephemera is not in front. While locked, a notification never says more than “New message”.</p>
      {supported && value !== 'none' && permission === 'default' ? (
        <button type="button" onClick={() => void Notification.requestPermission().then(setPermission)}>
          Allow notifications in this browser
        </button>
      ) : null}
    </>
  );
}
