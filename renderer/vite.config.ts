// Builds the renderer to dist/renderer. No inline scripts or styles end up in the output, so
// the strict CSP (script-src/style-src 'self') of both hosts holds.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'chrome130',
    sourcemap: false,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    // One bundle for a desktop app loaded from disk; size warnings are noise here. (The
    // password-strength dictionaries, shared/api/password-policy.ts, are about 1 MB of it.)
    chunkSizeWarningLimit: 4000,
  },
});
