// The preload runs in Electron's sandbox, where `require` offers only a few modules. Build the
// real bundle and run it in a fresh V8 context whose require knows only 'electron'.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPreload } from '../../scripts/build-app.ts';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ephemera-preload-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

describe('bundled preload', () => {
  it('needs nothing but electron and exposes only the bridge', async () => {
    const file = await buildPreload(out);
    const code = fs.readFileSync(file, 'utf8');
    const required: string[] = [];
    const exposed = new Map<string, unknown>();
    const invoked: unknown[][] = [];
    const electron = {
      contextBridge: { exposeInMainWorld: (k: string, v: unknown) => exposed.set(k, v) },
      ipcRenderer: { invoke: async (...a: unknown[]) => (invoked.push(a), { ok: true }), on: () => {}, removeListener: () => {} },
    };
    const module = { exports: {} };
    const context = vm.createContext({
      module,
      exports: module.exports,
      require: (name: string) => {
        required.push(name);
        if (name === 'electron') return electron;
        throw new Error(`sandboxed preload cannot require ${name}`);
      },
    });
    vm.runInContext(code, context, { filename: 'preload.cjs' });
    expect(new Set(required)).toEqual(new Set(['electron']));
    expect([...exposed.keys()]).toEqual(['ephemera']);
    const bridge = exposed.get('ephemera') as { call(m: string, p: unknown): Promise<unknown> };
    await bridge.call('vaultStatus', undefined);
    expect(invoked).toEqual([['ephemera:call', 'vaultStatus', undefined]]);
  });
});
