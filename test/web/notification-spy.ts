// A page's Web Notifications, recorded: the init script makes each one for real, keeps its title,
// body and whether the page closed it (a close by the system, which times them out, does not
// count), and lets a test say the page is not focused, as when another window is in front.
import type { Page } from 'playwright-core';

export const NOTIFICATION_SPY = `
  window.__notes = [];
  window.__unfocused = false;
  const realHasFocus = Document.prototype.hasFocus;
  Document.prototype.hasFocus = function () { return window.__unfocused ? false : realHasFocus.call(this); };
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      const note = { title, body: (options && options.body) || '', closed: false, n: this };
      window.__notes.push(note);
      const close = this.close.bind(this);
      this.close = () => { note.closed = true; close(); };
    }
  }
  Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
  window.Notification = Recorded;
`;

export type RecordedNote = { title: string; body: string; closed: boolean };

export const recordedNotes = (page: Page): Promise<RecordedNote[]> =>
  page.evaluate(() => (globalThis as unknown as { __notes: RecordedNote[] }).__notes.map(({ title, body, closed }) => ({ title, body, closed })));

export const setUnfocused = (page: Page, v: boolean): Promise<void> =>
  page.evaluate((x) => void ((globalThis as unknown as { __unfocused: boolean }).__unfocused = x), v);
