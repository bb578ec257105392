import fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import Ajv from 'ajv';
import yaml from 'js-yaml';

const require = createRequire(import.meta.url);
const schemaPath = require.resolve('app-builder-lib/scheme.json');
const configPath = new URL('../../electron-builder.yml', import.meta.url);

function validator() {
  const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(schema);
}

const config = yaml.load(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>;

describe('electron-builder.yml', () => {
  it("validates against electron-builder's own JSON schema", () => {
    const validate = validator();
    const valid = validate(config);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema check is real: an unknown key or a wrong fuse type is rejected', () => {
    const validate = validator();
    expect(validate({ ...config, notAnOption: true })).toBe(false);
    expect(validate({ ...config, electronFuses: { runAsNode: 'no' } })).toBe(false);
  });

  it('sets identity, targets and unpacks the native modules', () => {
    expect(config.appId).toBe('org.ephemera.desktop');
    expect(config.productName).toBe('Ephemera');
    expect(config.linux).toMatchObject({ target: ['AppImage', 'deb'] });
    expect(config.mac).toMatchObject({ target: [{ target: 'dmg', arch: ['arm64', 'x64'] }] });
    expect(JSON.stringify(config.win)).toContain('nsis');
    const unpack = config.asarUnpack as string[];
    for (const mod of ['better-sqlite3', 'argon2', '@signalapp/libsignal-client']) {
      expect(unpack.some((p) => p.includes(`node_modules/${mod}/`))).toBe(true);
    }
  });

  it('gives the installers the app icon: a 512x512 PNG in the repository', () => {
    const icon = new URL(`../../${String(config.icon)}`, import.meta.url);
    const png = fs.readFileSync(icon);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // IHDR: width and height, big-endian, right after the chunk header.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([512, 512]);
  });

  it('flips the security fuses', () => {
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableCookieEncryption: true,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
    });
  });
});
