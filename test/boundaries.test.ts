// The folder boundaries of DESIGN.md and the layers inside main/ (docs/architecture.md) are
// enforced by `npm run lint` (eslint.config.js). These tests lint small sources placed at real
// paths and check that each forbidden import is refused and each allowed one passes, so no rule
// can silently stop working.
import { ESLint } from 'eslint';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

// The probes are not files of any tsconfig, so typed linting (which needs them in a project) is
// off here; the import rules do not use types.
const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname, overrideConfig: tseslint.configs.disableTypeChecked });

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  // A probe that does not parse would pass the "allowed" cases for nothing.
  expect(result?.messages.filter((m) => m.fatal === true) ?? []).toEqual([]);
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
    // The renderer and shared/api* run in a browser page: no Node built-in, native module,
    // Node-only package, electron or libsignal.
    ['renderer/src/probe.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n"],
    ['renderer/src/probe.ts', "import { readFileSync } from 'fs';\nexport const x = readFileSync;\n"],
    ['renderer/src/probe.ts', "import Database from 'better-sqlite3';\nexport const x = Database;\n"],
    ['renderer/src/probe.ts', "import { ipcRenderer } from 'electron';\nexport const x = ipcRenderer;\n"],
    ['shared/api.ts', "import { createHash } from 'node:crypto';\nexport const x = createHash;\n"],
    ['shared/api.ts', "import { PrivateKey } from '@signalapp/libsignal-client';\nexport const x = PrivateKey;\n"],
    ['shared/api/probe.ts', "import argon2 from 'argon2';\nexport const x = argon2;\n"],
    ['shared/api/probe.ts', "import WebSocket from 'ws';\nexport const x = WebSocket;\n"],
    // Layers inside main/ (docs/architecture.md): each imports only the layers below it.
    ['main/vault/probe.ts', "import { RelayKeys } from '../net/keys.ts';\nexport const x = RelayKeys;\n"],
    ['main/vault/probe.ts', "import { fold } from '../search/tokenize.ts';\nexport const x = fold;\n"],
    ['main/net/probe.ts', "import { E2e } from '../e2e/index.ts';\nexport const x = E2e;\n"],
    ['main/e2e/probe.ts', "import { RelayClient } from '../net/client.ts';\nexport const x = RelayClient;\n"],
    ['main/search/probe.ts', "import { E2e } from '../e2e/index.ts';\nexport const x = E2e;\n"],
    ['main/backup/probe.ts', "import { SearchService } from '../search/service.ts';\nexport const x = SearchService;\n"],
    ['main/backup/probe.ts', "import { Messenger } from '../messenger.ts';\nexport const x = Messenger;\n"],
    ['main/e2e/probe.ts', "import { newContactId } from '../messenger/ids.ts';\nexport const x = newContactId;\n"],
    ['main/web/probe.ts', "import { Messenger } from '../messenger.ts';\nexport const x = Messenger;\n"],
    ['main/web/probe.ts', "import { Vault } from '../vault/index.ts';\nexport const x = Vault;\n"],
    ['main/app/probe.ts', "import { Vault } from '../vault/index.ts';\nexport const x = Vault;\n"],
    ['main/backup-files.ts', "import { Messenger } from './messenger.ts';\nexport const x = Messenger;\n"],
    ['main/probe.ts', "import { Vault } from './vault/index.ts';\nexport const x = Vault;\n"],
    ['cli/probe.ts', "import { x as y } from '../main/app/main.ts';\nexport const x = y;\n"],
  ])('refuses %s importing across a boundary (%#)', async (filePath, code) => {
    expect(await boundaryErrors(filePath, code)).not.toEqual([]);
  });

  it.each([
    ['renderer/src/probe.ts', "import { methodNames } from '../../shared/api.ts';\nexport const x = methodNames;\n"],
    ['renderer/src/probe.ts', "import { dispatchCall } from '../../shared/api/rpc.ts';\nexport const x = dispatchCall;\n"],
    ['renderer/src/probe.ts', "import { z } from 'zod';\nexport const x = z;\n"],
    ['shared/api/probe.ts', "import { methodNames } from '../api.ts';\nexport const x = methodNames;\n"],
    ['relay/probe.ts', "import { RpcError } from '../shared/protocol/errors.ts';\nexport const x = RpcError;\n"],
    ['main/vault/probe.ts', "import { HANDLE_RE } from '../../shared/protocol/schema.ts';\nexport const x = HANDLE_RE;\n"],
    ['main/net/probe.ts', "import { Vault } from '../vault/index.ts';\nexport const x = Vault;\n"],
    ['main/e2e/probe.ts', "import { Vault } from '../vault/index.ts';\nexport const x = Vault;\n"],
    ['main/search/probe.ts', "import { Vault } from '../vault/index.ts';\nexport const x = Vault;\n"],
    ['main/backup/probe.ts', "import { fold } from '../search/tokenize.ts';\nexport const x = fold;\n"],
    ['main/messenger/probe.ts', "import { E2e } from '../e2e/index.ts';\nexport const x = E2e;\n"],
    ['main/messenger/probe.ts', "import { RelayClient } from '../net/client.ts';\nexport const x = RelayClient;\n"],
    ['main/messenger.ts', "import { x as y } from './backup/index.ts';\nexport const x = y;\n"],
    ['main/web/probe.ts', "import { folderPolicy } from '../backup-files.ts';\nexport const x = folderPolicy;\n"],
    ['main/app/probe.ts', "import { Messenger } from '../messenger.ts';\nexport const x = Messenger;\n"],
    ['main/app/probe.ts', "import { securityHeaders } from '../web/csp.ts';\nexport const x = securityHeaders;\n"],
    ['main/app/probe.ts', "import { app } from 'electron';\nexport const x = app;\n"],
    ['cli/probe.ts', "import { Vault } from '../main/vault/index.ts';\nexport const x = Vault;\n"],
  ])('allows %s (%#)', async (filePath, code) => {
    expect(await boundaryErrors(filePath, code)).toEqual([]);
  });
});

// The compiler holds the renderer to the same rule: renderer/tsconfig.json loads no Node types,
// so a Node built-in or global does not type-check there (lint aside).
const ROOT = new URL('..', import.meta.url).pathname;

function rendererTypeErrors(code: string): string[] {
  const configPath = join(ROOT, 'renderer', 'tsconfig.json');
  const config = ts.parseJsonConfigFileContent(ts.readConfigFile(configPath, (p) => ts.sys.readFile(p)).config, ts.sys, dirname(configPath));
  const probe = join(ROOT, 'renderer', 'src', 'probe.ts');
  const host = ts.createCompilerHost(config.options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) => (name === probe ? ts.createSourceFile(name, code, lang) : getSourceFile.call(host, name, lang, ...rest));
  host.fileExists = (name) => name === probe || fileExists.call(host, name);
  host.readFile = (name) => (name === probe ? code : readFile.call(host, name));
  const program = ts.createProgram([probe], config.options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('renderer types', () => {
  it('refuses Node built-ins and globals in renderer code', () => {
    const errors = rendererTypeErrors("import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\nexport const y = process.env;\n");
    expect(errors.some((e) => e.includes("'node:fs'"))).toBe(true);
    expect(errors.some((e) => e.includes("'process'"))).toBe(true);
  });

  it('accepts the contract and the DOM', () => {
    expect(rendererTypeErrors("import { methodNames } from '../../shared/api.ts';\nexport const x = methodNames;\nexport const y = document.title;\n")).toEqual([]);
  });
});
