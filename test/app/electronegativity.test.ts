import { describe, expect, it } from 'vitest';
import { parseCsv, repoRelative } from '../../scripts/electronegativity.ts';

describe('electronegativity report reading', () => {
  it('parses quoted CSV cells with commas and maps file names to the repository', () => {
    const csv = [
      'issue, severity, confidence, filename, location, sample, description, url',
      'CONTEXT_ISOLATION_JS_CHECK,"HIGH","FIRM","/tmp/x/main/app/app.ts","45:17","new BrowserWindow({ a, b })","Review, please",https://x',
      'CSP_GLOBAL_CHECK,"LOW","CERTAIN","../../work/main/renderer/index.html","9:0",N/A,"d",u',
    ].join('\n');
    const findings = parseCsv(csv);
    expect(findings).toHaveLength(2);
    expect(findings[0]).toMatchObject({ issue: 'CONTEXT_ISOLATION_JS_CHECK', severity: 'HIGH', sample: 'new BrowserWindow({ a, b })' });
    expect(repoRelative(findings[0]!.file)).toBe('main/app/app.ts');
    expect(repoRelative(findings[1]!.file)).toBe('renderer/index.html');
    expect(() => parseCsv('garbage')).toThrow();
  });
});
