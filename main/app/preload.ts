// Runs sandboxed in the renderer process before the page. Exposes exactly one object,
// `window.ephemera`, shaped as shared/api/rpc.ts's ApiTransport: a call function limited to
// the contract's method names and an event feed limited to its event names. No ipcRenderer,
// no Electron or Node objects, no event objects reach the page. Bundled (scripts/build-app.ts)
// because a sandboxed preload can only require 'electron'.
import { contextBridge, ipcRenderer } from 'electron';
import { z } from 'zod';
import { isEventName, isMethodName } from '../../shared/api.ts';
import { CALL_CHANNEL, EVENT_CHANNEL } from './channels.ts';

// The page's CSP forbids eval; zod must not probe for it.
z.config({ jitless: true });

export const bridge = {
  call(method: unknown, params: unknown): Promise<unknown> {
    if (!isMethodName(method)) return Promise.reject(new Error('Unknown method'));
    return ipcRenderer.invoke(CALL_CHANNEL, method, params);
  },
  subscribe(listener: (name: unknown, payload: unknown) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    const handler = (_event: unknown, name: unknown, payload: unknown) => {
      if (isEventName(name)) listener(name, payload);
    };
    ipcRenderer.on(EVENT_CHANNEL, handler);
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, handler);
    };
  },
};

contextBridge.exposeInMainWorld('ephemera', bridge);
