import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve-config.js';

describe('indexedMetadata', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tenantctl-config-'));

  it('defaults to no key, reads a comma-separated variable and a JSON array', () => {
    expect(resolveConfig({ flags: {}, env: {}, cwd }).config.indexedMetadata).toEqual([]);
    expect(
      resolveConfig({ flags: {}, env: { TENANTCTL_INDEXED_METADATA: 'domain, region,domain' }, cwd }).config
        .indexedMetadata,
    ).toEqual(['domain', 'region']);
    const withFile = mkdtempSync(join(tmpdir(), 'tenantctl-config-'));
    writeFileSync(join(withFile, 'tenantctl.config.json'), JSON.stringify({ indexedMetadata: ['domain'] }));
    expect(resolveConfig({ flags: {}, env: {}, cwd: withFile })).toMatchObject({
      config: { indexedMetadata: ['domain'] },
      sources: { indexedMetadata: 'file' },
    });
  });

  it('refuses keys --set would refuse, and non-lists, naming the key', () => {
    expect(() => resolveConfig({ flags: {}, env: { TENANTCTL_INDEXED_METADATA: 'domain,bad key' }, cwd })).toThrow(
      /TENANTCTL_INDEXED_METADATA: "bad key" is not a metadata key/,
    );
    const withFile = mkdtempSync(join(tmpdir(), 'tenantctl-config-'));
    writeFileSync(join(withFile, 'tenantctl.config.json'), JSON.stringify({ indexedMetadata: [1] }));
    expect(() => resolveConfig({ flags: {}, env: {}, cwd: withFile })).toThrow(
      /"indexedMetadata": expected a list of strings/,
    );
  });
});
