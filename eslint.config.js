// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

// Boundaries from DESIGN.md: renderer imports only shared/api*; shared/ imports nothing from other
// top folders; relay/ never imports main/ or renderer/; only main/app/ imports electron. Inside
// main/ each layer (docs/architecture.md, "Layers") imports only the layers below it: vault
// imports no other layer; e2e, net and search build on the vault (net never on e2e); backup on the
// vault; only the messenger composes them; web serves any EphemeraService and app hosts the
// messenger. The first matching pattern decides an element's type, so files come before folders.
const boundaryElements = [
  { type: 'shared-api', pattern: 'shared/api/**', partialMatch: false },
  { type: 'shared', pattern: 'shared/**', partialMatch: false },
  { type: 'main-app', pattern: 'main/app/**', partialMatch: false },
  { type: 'main-web', pattern: 'main/web/**', partialMatch: false },
  { type: 'main-messenger', pattern: 'main/messenger/**', partialMatch: false },
  { type: 'main-backup', pattern: 'main/backup/**', partialMatch: false },
  { type: 'main-search', pattern: 'main/search/**', partialMatch: false },
  { type: 'main-net', pattern: 'main/net/**', partialMatch: false },
  { type: 'main-e2e', pattern: 'main/e2e/**', partialMatch: false },
  { type: 'main-vault', pattern: 'main/vault/**', partialMatch: false },
  // The files directly in main/ (element patterns match folders); told apart by file below.
  { type: 'main-root', pattern: 'main/**', partialMatch: false },
  { type: 'renderer', pattern: 'renderer/**', partialMatch: false },
  { type: 'relay', pattern: 'relay/**', partialMatch: false },
  { type: 'cli', pattern: 'cli/**', partialMatch: false },
  { type: 'test', pattern: 'test/**', partialMatch: false },
  { type: 'bench', pattern: 'bench/**', partialMatch: false },
];

// Element selectors of the layers. The renderer-visible API is shared/api.ts and shared/api/;
// the messenger is main/messenger.ts (the facade), main/messenger/ and its GC helper; the hosts'
// backup file-dialog policy (main/backup-files.ts, used by app and web) imports only shared/api.
const api = [{ type: 'shared-api' }, { type: 'shared', fileInternalPath: 'api.ts' }];
const layers = {
  vault: [{ type: 'main-vault' }],
  e2e: [{ type: 'main-e2e' }],
  net: [{ type: 'main-net' }],
  search: [{ type: 'main-search' }],
  backup: [{ type: 'main-backup' }],
  messenger: [{ type: 'main-messenger' }, { type: 'main-root', fileInternalPath: ['messenger.ts', 'collect-garbage.ts'] }],
  hosts: [{ type: 'main-root', fileInternalPath: 'backup-files.ts' }],
  web: [{ type: 'main-web' }],
  app: [{ type: 'main-app' }],
};
const shared = [{ type: 'shared' }, { type: 'shared-api' }];
const mainTypes = boundaryElements.map((e) => e.type).filter((t) => t.startsWith('main-'));

/** A policy: a file of layer `from` may import its own layer, the layers `to` and shared/. */
const layer = (from, to) => ({
  from: { element: layers[from] },
  allow: { to: { element: [...layers[from], ...to.flatMap((t) => layers[t]), ...shared] } },
});

// Code that runs in the renderer (a browser page) can load no Node built-in, no native or
// Node-only package, no electron and no libsignal.
const nodeOnlyPackages = ['electron', 'electron/**', 'better-sqlite3', 'argon2', '@signalapp/**', 'pg', 'ws'];

export default tseslint.config(
  {
    ignores: ['node_modules/**', 'dist/**', 'release/**', 'test-results/**', 'coverage/**', '**/*.d.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': boundaryElements,
      'boundaries/include': ['main/**', 'renderer/**', 'shared/**', 'relay/**', 'cli/**', 'test/**', 'bench/**'],
      // The renderer's build config runs in Node (vite), not in the page.
      'boundaries/ignore': ['renderer/vite.config.ts'],
      'import/resolver': { node: { extensions: ['.ts', '.tsx', '.js'] } },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'boundaries/dependencies': [
        2,
        {
          default: 'disallow',
          // Packages and Node built-ins are checked too (the renderer may load neither kind of Node-only code).
          checkAllOrigins: true,
          // Files directly in main/ form one element; imports between them are checked too.
          checkInternals: true,
          policies: [
            { from: { element: { types: { anyOf: ['shared', 'shared-api'] } } }, allow: { to: { element: { types: { anyOf: ['shared', 'shared-api'] } } } } },
            { from: { element: { type: 'renderer' } }, allow: { to: { element: [{ type: 'renderer' }, ...api] } } },
            { from: { element: { type: 'relay' } }, allow: { to: { element: { types: { anyOf: ['relay', 'shared', 'shared-api'] } } } } },
            layer('vault', []),
            layer('e2e', ['vault']),
            layer('net', ['vault']),
            layer('search', ['vault']),
            layer('backup', ['vault']),
            // Exception: the backup reader searches an opened backup with the search index's own
            // text folding (main/search/tokenize.ts, pure), so both find the same messages.
            { from: { element: layers.backup }, allow: { to: { element: { type: 'main-search', fileInternalPath: 'tokenize.ts' } } } },
            layer('messenger', ['backup', 'search', 'net', 'e2e', 'vault']),
            layer('hosts', []),
            layer('web', ['hosts']),
            layer('app', ['messenger', 'web', 'hosts']),
            { from: { element: { type: 'cli' } }, allow: { to: { element: { types: { anyOf: ['cli', ...mainTypes.filter((t) => t !== 'main-app'), 'relay', 'shared', 'shared-api'] } } } } },
            { from: { element: { types: { anyOf: ['test', 'bench'] } } }, allow: { to: { element: { types: { anyOf: ['test', 'bench', ...mainTypes, 'relay', 'shared', 'shared-api', 'cli', 'renderer'] } } } } },
            { allow: { to: { module: { origin: 'external' } } } },
            { allow: { to: { module: { origin: 'core' } } } },
            // Later policies win: what runs in the renderer loses Node built-ins and Node-only packages.
            { from: { element: [{ type: 'renderer' }, ...api] }, disallow: { to: { module: { origin: 'core' } } } },
            { from: { element: [{ type: 'renderer' }, ...api] }, disallow: { to: { module: { source: nodeOnlyPackages } } } },
          ],
        },
      ],
      // Only the thin Electron shell (main/app/) may touch the electron module.
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'Only main/app/ may import electron.' }] }],
    },
  },
  {
    // Type-aware rules: a promise nobody awaits or handles (a rejection lost, or work racing what
    // follows), a promise where a plain value is expected (an async callback whose rejection
    // nobody sees), a switch over a union that forgets a member.
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A default branch is a decision about the rest (e.g. refusing an unknown frame byte).
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    files: ['main/app/**', 'test/app/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
