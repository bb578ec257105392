import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';

// The README's first lines are the contract with a new machine.
describe('repository foundation', () => {
  it('README starts with the install/start and test commands', () => {
    const firstLines = readFileSync(new URL('../README.md', import.meta.url), 'utf8').split('\n').slice(0, 5).join('\n');
    expect(firstLines).toContain('npm install && npm start');
    expect(firstLines).toContain('npm test');
  });

  it('denies electron install script and approves the native modules', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      allowScripts: Record<string, boolean>;
      license: string;
      type: string;
    };
    expect(pkg.allowScripts.electron).toBe(false);
    expect(pkg.allowScripts['better-sqlite3']).toBe(true);
    expect(pkg.allowScripts.argon2).toBe(true);
    expect(pkg.license).toBe('AGPL-3.0-only');
    expect(pkg.type).toBe('module');
  });
});
