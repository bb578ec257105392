// A Node-side client of the browser host (scripts/demo.ts, tests): redeems the one-time launch
// URL the way a browser would, and keeps the session cookie it gets for the /api socket.
import http from 'node:http';

export interface WebSession {
  /** e.g. http://127.0.0.1:PORT */
  readonly origin: string;
  /** The Cookie header value for requests and the /api socket upgrade. */
  readonly cookie: string;
  /** ws://HOST:PORT/api (carries nothing secret; the cookie authenticates). */
  readonly socketUrl: string;
}

export class LaunchRefused extends Error {
  constructor(readonly status: number) {
    super(`the web host refused the launch address (HTTP ${status})`);
    this.name = 'LaunchRefused';
  }
}

/** Presents the launch URL once; resolves with the session, or rejects with LaunchRefused. */
export function redeemLaunchUrl(launchUrl: string): Promise<WebSession> {
  const url = new URL(launchUrl);
  if (url.protocol !== 'http:') return Promise.reject(new Error('the launch address must be http://'));
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, agent: false, path: url.pathname + url.search, method: 'GET', headers: { Host: url.host } }, (res) => {
      res.resume();
      const setCookie = res.headers['set-cookie']?.[0];
      const pair = setCookie?.split(';')[0]?.trim();
      if (res.statusCode !== 303 || !pair || !pair.includes('=')) return reject(new LaunchRefused(res.statusCode ?? 0));
      resolve({ origin: url.origin, cookie: pair, socketUrl: `ws://${url.host}/api` });
    });
    req.on('error', reject);
    req.end();
  });
}
