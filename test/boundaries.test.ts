// The folder boundaries of DESIGN.md are enforced by `npm run lint` (eslint.config.js). These
// tests lint small sources placed at real paths and check that each forbidden import is refused
// and each allowed one passes, so the rule cannot silently stop working.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname });

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'boundaries/dependencies' || m.ruleId === 'no-restricted-imports')
    .map((m) => `${m.ruleId}: ${m.message}`);
}

describe('import boundaries', () => {
  it.each([
    ['renderer/src/probe.ts', "import { relayMethods } from '../../relay/methods.ts';\nexport const x = relayMethods;\n"],
    ['renderer/src/probe.ts', "import { Vault } from '../../main/vault/index.ts';\nexport const x = Vault;\n"],
    ['renderer/src/probe.ts', "import { HANDSHAKE_LABEL } from '../../shared/protocol/handshake.ts';\nexport const x = HANDSHAKE_LABEL;\n"],
    ['shared/protocol/probe.ts', "import { Vault } from '../../main/vault/index.ts';\nexport const x = Vault;\n"],
    ['relay/probe.ts', "import { Vault } from '../main/vault/index.ts';\nexport const x = Vault;\n"],
    ['main/vault/probe.ts', "import { app } from 'electron';\nexport const x = app;\n"],
    ['relay/probe.ts', "import { app } from 'electron';\nexport const x = app;\n"],
  ])('refuses %s importing across a boundary (%#)', async (filePath, code) => {
    expect(await boundaryErrors(filePath, code)).not.toEqual([]);
  });

  it.each([
    ['renderer/src/probe.ts', "import { apiMethods } from '../../shared/api/contract.ts';\nexport const x = apiMethods;\n"],
    ['relay/probe.ts', "import { RpcError } from '../shared/protocol/errors.ts';\nexport const x = RpcError;\n"],
    ['main/net/probe.ts', "import { Vault } from '../vault/index.ts';\nexport const x = Vault;\n"],
    ['main/app/probe.ts', "import { app } from 'electron';\nexport const x = app;\n"],
    ['cli/probe.ts', "import { Vault } from '../main/vault/index.ts';\nexport const x = Vault;\n"],
  ])('allows %s (%#)', async (filePath, code) => {
    expect(await boundaryErrors(filePath, code)).toEqual([]);
  });
});
