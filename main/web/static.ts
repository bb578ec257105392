// Maps a URL path to a file of the built renderer (dist/renderer), refusing anything that would
// leave that folder. Used by the browser host and by Electron's app:// protocol handler.
import fs from 'node:fs';
import path from 'node:path';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentTypeFor(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export type StaticLookup = { ok: true; file: string; contentType: string } | { ok: false; status: 400 | 404 };

/**
 * `urlPath` is the raw (still percent-encoded) path of the request. "/" means index.html.
 * Refuses encoded NULs, backslashes, dot segments and anything resolving outside `root`
 * (including through a symlink).
 */
export function resolveStaticFile(root: string, urlPath: string): StaticLookup {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { ok: false, status: 400 };
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return { ok: false, status: 400 };
  if (decoded.split('/').some((segment) => segment === '..' || segment === '.')) return { ok: false, status: 400 };
  const relative = decoded === '/' ? 'index.html' : decoded.slice(1);
  const rootReal = safeRealpath(root);
  if (!rootReal) return { ok: false, status: 404 };
  const candidate = path.resolve(rootReal, relative);
  const fileReal = safeRealpath(candidate);
  if (!fileReal) return { ok: false, status: 404 };
  const rel = path.relative(rootReal, fileReal);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return { ok: false, status: 400 };
  if (!fs.statSync(fileReal).isFile()) return { ok: false, status: 404 };
  return { ok: true, file: fileReal, contentType: contentTypeFor(fileReal) };
}

function safeRealpath(p: string): string | undefined {
  try {
    return fs.realpathSync(p);
  } catch {
    return undefined;
  }
}

/** Where the build puts the renderer, relative to the repository root. */
export const RENDERER_DIST = path.join('dist', 'renderer');
