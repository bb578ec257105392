// Connects the UI to the service: the Electron preload bridge when present, otherwise the
// browser host's WebSocket on the same origin (the session cookie authenticates it; nothing
// secret goes in the socket URL).
import { createContext, useContext } from 'react';
import { createApiClient, type ApiTransport, type EphemeraClient } from '../../shared/api/rpc.ts';
import { createSocketTransport, type LinkState, type SocketLike } from '../../shared/api/socket-client.ts';

declare global {
  interface Window {
    ephemera?: ApiTransport;
  }
}

export interface Connection {
  client: EphemeraClient;
  mode: 'electron' | 'browser';
  onLinkChange(listener: (state: LinkState) => void): () => void;
}

export function connect(): Connection {
  if (window.ephemera) {
    return { client: createApiClient(window.ephemera), mode: 'electron', onLinkChange: () => () => {} };
  }
  const transport = createSocketTransport({
    connect: () => new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api`) as SocketLike,
  });
  return { client: createApiClient(transport), mode: 'browser', onLinkChange: (l) => transport.onLinkChange(l) };
}

export const ApiContext = createContext<EphemeraClient | null>(null);

export function useApi(): EphemeraClient {
  const client = useContext(ApiContext);
  if (!client) throw new Error('ApiContext missing');
  return client;
}

/** A human sentence for anything a call rejected with. */
export function errorText(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') return error.message;
  return 'Something went wrong.';
}
