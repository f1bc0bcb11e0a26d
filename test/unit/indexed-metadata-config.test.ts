import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve-config.js';
import { UsageError } from '../../src/core/errors.js';
import { indexedEntries } from '../../src/registry/metadata-index-repo.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('indexedMetadata', () => {
  const cwd = tempDir('tenantctl-config-');

  it('defaults to no key, reads a comma-separated variable and a JSON array', () => {
    expect(resolveConfig({ flags: {}, env: {}, cwd }).config.indexedMetadata).toEqual([]);
    expect(
      resolveConfig({ flags: {}, env: { TENANTCTL_INDEXED_METADATA: 'domain, region,domain' }, cwd }).config
        .indexedMetadata,
    ).toEqual(['domain', 'region']);
    const withFile = tempDir('tenantctl-config-');
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
    const withFile = tempDir('tenantctl-config-');
    writeFileSync(join(withFile, 'tenantctl.config.json'), JSON.stringify({ indexedMetadata: [1] }));
    expect(() => resolveConfig({ flags: {}, env: {}, cwd: withFile })).toThrow(
      /"indexedMetadata": expected a list of strings/,
    );
  });
});

describe('indexed metadata values', () => {
  it('indexes scalars as text, skips empty ones and other keys', () => {
    expect(
      indexedEntries(['domain', 'seats', 'trial'], { domain: 'a.test', seats: 5, trial: false, region: 'eu' }),
    ).toEqual([
      ['domain', 'a.test'],
      ['seats', '5'],
      ['trial', 'false'],
    ]);
    expect(indexedEntries(['domain'], { domain: '' })).toEqual([]);
    expect(indexedEntries(['domain'], { domain: null })).toEqual([]);
  });

  it('refuses an object or a list under an indexed key (it would be "[object Object]" for every tenant)', () => {
    expect(() => indexedEntries(['domain'], { domain: { host: 'a.test' } })).toThrow(
      /metadata "domain" is indexed: its value must be a string, number or boolean/,
    );
    expect(() => indexedEntries(['domain'], { domain: ['a.test'] })).toThrow(UsageError);
    expect(() => indexedEntries(['domain'], { domain: 'x'.repeat(256) })).toThrow(/at most 255 characters/);
  });
});
