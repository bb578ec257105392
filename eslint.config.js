// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

// Boundaries from DESIGN.md: renderer imports only shared/api*; shared/ imports
// nothing from other top folders; relay/ never imports main/ or renderer/;
// only main/app/ imports electron.
const boundaryElements = [
  { type: 'shared-api', pattern: 'shared/api*', partialMatch: false },
  { type: 'shared-api', pattern: 'shared/api/**', partialMatch: false },
  { type: 'shared', pattern: 'shared/**', partialMatch: false },
  { type: 'main-app', pattern: 'main/app/**', partialMatch: false },
  { type: 'main', pattern: 'main/**', partialMatch: false },
  { type: 'renderer', pattern: 'renderer/**', partialMatch: false },
  { type: 'relay', pattern: 'relay/**', partialMatch: false },
  { type: 'cli', pattern: 'cli/**', partialMatch: false },
  { type: 'test', pattern: 'test/**', partialMatch: false },
  { type: 'bench', pattern: 'bench/**', partialMatch: false },
];

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
      'import/resolver': { node: { extensions: ['.ts', '.tsx', '.js'] } },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'boundaries/dependencies': [
        2,
        {
          default: 'disallow',
          policies: [
            { from: { element: { type: 'shared-api' } }, allow: { to: { element: { types: { anyOf: ['shared-api', 'shared'] } } } } },
            { from: { element: { type: 'shared' } }, allow: { to: { element: { types: { anyOf: ['shared', 'shared-api'] } } } } },
            { from: { element: { type: 'renderer' } }, allow: { to: { element: { types: { anyOf: ['renderer', 'shared-api'] } } } } },
            { from: { element: { type: 'relay' } }, allow: { to: { element: { types: { anyOf: ['relay', 'shared', 'shared-api'] } } } } },
            { from: { element: { type: 'main' } }, allow: { to: { element: { types: { anyOf: ['main', 'shared', 'shared-api'] } } } } },
            { from: { element: { type: 'main-app' } }, allow: { to: { element: { types: { anyOf: ['main-app', 'main', 'shared', 'shared-api'] } } } } },
            { from: { element: { type: 'cli' } }, allow: { to: { element: { types: { anyOf: ['cli', 'main', 'relay', 'shared', 'shared-api'] } } } } },
            { from: { element: { types: { anyOf: ['test', 'bench'] } } }, allow: { to: { element: { types: { anyOf: ['test', 'bench', 'main', 'main-app', 'relay', 'shared', 'shared-api', 'cli', 'renderer'] } } } } },
            { allow: { to: { module: { origin: 'external' } } } },
            { allow: { to: { module: { origin: 'core' } } } },
          ],
        },
      ],
      // Only the thin Electron shell (main/app/) may touch the electron module.
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'Only main/app/ may import electron.' }] }],
    },
  },
  {
    files: ['main/app/**', 'test/app/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
