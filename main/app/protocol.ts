// The app:// scheme: registered as privileged (standard + secure, so the page gets a real
// origin and a secure context) and served from the built renderer with the same CSP as the
// browser host. The page therefore never runs from file://.
import fs from 'node:fs';
import type { CustomScheme } from 'electron';
import { securityHeaders } from '../web/csp.ts';
import { resolveStaticFile } from '../web/static.ts';
import { APP_HOST, APP_SCHEME } from './channels.ts';

export const APP_SCHEME_PRIVILEGES: CustomScheme = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: false, corsEnabled: false, bypassCSP: false, allowServiceWorkers: false, stream: false },
};

function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { ...securityHeaders(), 'Content-Type': 'text/plain; charset=utf-8' } });
}

/** The handler given to `protocol.handle('app', ...)`. */
export function createAppProtocolHandler(rendererDir: string): (request: Request) => Response {
  return (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return plain(405, 'Method not allowed');
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return plain(400, 'Bad request');
    }
    if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return plain(404, 'Not found');
    const found = resolveStaticFile(rendererDir, url.pathname);
    if (!found.ok) return plain(found.status, found.status === 404 ? 'Not found' : 'Bad request');
    const body = request.method === 'HEAD' ? null : fs.readFileSync(found.file);
    return new Response(body, { status: 200, headers: { ...securityHeaders(), 'Content-Type': found.contentType } });
  };
}
