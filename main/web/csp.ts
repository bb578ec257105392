// One Content-Security-Policy for both hosts of the renderer: the Electron window (app://) and
// the browser host (http://127.0.0.1). Only the connect-src differs: Electron talks over IPC
// (no network at all), the browser host over its own WebSocket. No 'unsafe-inline', no
// 'unsafe-eval': scripts and styles come only from the built files.

export interface CspOptions {
  /** Extra origins the page may connect to (the web host's ws:// URL). Empty for Electron. */
  connectSrc?: readonly string[];
}

export function contentSecurityPolicy(options: CspOptions = {}): string {
  const connect = options.connectSrc && options.connectSrc.length > 0 ? options.connectSrc.join(' ') : "'none'";
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "worker-src 'none'",
    "manifest-src 'none'",
  ].join('; ');
}

/** Headers sent with every renderer response on both hosts. */
export function securityHeaders(options: CspOptions = {}): Record<string, string> {
  return {
    'Content-Security-Policy': contentSecurityPolicy(options),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'X-Frame-Options': 'DENY',
    'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), usb=(), serial=(), hid=(), bluetooth=()',
    'Cache-Control': 'no-store',
  };
}
