// A Node-side client of the browser host (scripts/demo.ts, tests): takes the one-time launch
// code from the launch URL's fragment and presents it in-band on the /api socket, the way the
// renderer does (renderer/src/api.ts); reconnects with the session secret the host returns.
import WebSocket from 'ws';
import { launchCodeFromFragment, type AuthCredential } from '../../shared/api/socket-auth.ts';
import { createSocketTransport, type SocketLike, type SocketTransport } from '../../shared/api/socket-client.ts';
import { CodedError } from '../../shared/errors.ts';

export interface LaunchAddress {
  /** e.g. http://127.0.0.1:PORT */
  readonly origin: string;
  /** ws://HOST:PORT/api (carries nothing secret; the first frame authenticates). */
  readonly socketUrl: string;
  readonly launchCode: string;
}

export class LaunchRefused extends CodedError<'LAUNCH_REFUSED'> {
  constructor(detail: string) {
    super('LAUNCH_REFUSED', `the web host refused the launch address: ${detail}`);
  }
}

/** Checks the shape of a launch URL (`http://127.0.0.1:PORT/#code=…`) without contacting it. */
export function parseLaunchUrl(launchUrl: string): LaunchAddress {
  let url: URL;
  try {
    url = new URL(launchUrl);
  } catch {
    throw new LaunchRefused('not a URL');
  }
  if (url.protocol !== 'http:') throw new LaunchRefused('it must be http://');
  const launchCode = launchCodeFromFragment(url.hash);
  if (!launchCode) throw new LaunchRefused('it carries no launch code (#code=…)');
  return { origin: url.origin, socketUrl: `ws://${url.host}/api`, launchCode };
}

/**
 * Redeems the launch code over the socket; resolves with a connected transport once the host
 * accepted it (reconnects present the session secret), or rejects with LaunchRefused (or an
 * Error if the socket could not be opened at all).
 */
export function connectLaunchUrl(launchUrl: string, options: { retryDelayMs?: number } = {}): Promise<SocketTransport> {
  let address: LaunchAddress;
  try {
    address = parseLaunchUrl(launchUrl);
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
  let credential: AuthCredential = { launchCode: address.launchCode };
  const transport = createSocketTransport({
    connect: () => new WebSocket(address.socketUrl, { origin: address.origin }) as unknown as SocketLike,
    auth: {
      credential: () => credential,
      onSession: (session) => {
        credential = { session };
      },
    },
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
  });
  return new Promise((resolve, reject) => {
    const off = transport.onLinkChange((state) => {
      if (state === 'open') {
        off();
        resolve(transport);
      } else if (state === 'refused') {
        off();
        transport.close();
        reject(new LaunchRefused('the code was already used or is wrong'));
      } else if (state === 'closed') {
        // Never reached (nothing listening, or the upgrade was refused): do not retry forever.
        off();
        transport.close();
        reject(new Error(`could not open ${address.socketUrl}`));
      }
    });
  });
}
