// The auto-lock minutes every API call restarts the timer with are read from the settings file
// only when it changed (main/messenger/session-lifecycle.ts): a change is seen at the next call,
// however soon after the last one it is written.
import { afterEach, describe, expect, it } from 'vitest';
import { autoLockMinutesOf } from '../../main/messenger/session-lifecycle.ts';
import { readSettings, writeSettings } from '../../main/messenger/settings.ts';
import { tempDir } from './helpers.ts';

const dirs: (() => void)[] = [];
afterEach(() => dirs.splice(0).forEach((cleanup) => cleanup()));

describe('auto-lock minutes', () => {
  it('follow every write of the settings file, back to back, and its removal', () => {
    const { dir, cleanup } = tempDir('autolock');
    dirs.push(cleanup);
    const minutes = autoLockMinutesOf(dir);
    const defaults = readSettings(dir).autoLockMinutes;
    expect(minutes()).toBe(defaults);
    for (const m of [7, 8, 7, 0, 60]) {
      writeSettings(dir, { ...readSettings(dir), autoLockMinutes: m });
      expect(minutes()).toBe(m);
      expect(minutes()).toBe(m);
    }
    cleanup();
    expect(minutes()).toBe(defaults);
  });
});
