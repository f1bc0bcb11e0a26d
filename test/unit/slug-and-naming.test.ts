import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { fitName, renderName, validateTemplate } from '../../src/core/naming.js';
import { EXISTING_SLUG, slugRule, validateSlug, validateSlugPattern } from '../../src/core/slug.js';

describe('validateSlug', () => {
  it.each(['acme', 'acme-corp', 'acme_2', 'a'])('accepts %s', (slug) => {
    expect(validateSlug(slug)).toBe(slug);
  });

  it.each(['', 'Acme', '1acme', '-acme', '_acme', 'ac me', 'acme;drop table', 'acmé', 'a'.repeat(49), 'acme\n'])(
    'rejects %j',
    (slug) => {
      expect(() => validateSlug(slug)).toThrow(UsageError);
    },
  );
});

describe('renderName', () => {
  it('maps "-" to "_" so every name is a plain identifier', () => {
    expect(renderName('tenant_{slug}', 'acme-corp')).toBe('tenant_acme_corp');
    expect(renderName('{slug}_db', 'a-b-c')).toBe('a_b_c_db');
  });

  it('checks templates when configuration is loaded', () => {
    expect(validateTemplate('tenant_{slug}')).toBeUndefined();
    expect(validateTemplate('tenant')).toMatch(/\{slug\}/);
    expect(validateTemplate('Tenant-{slug}')).toMatch(/lower-case/);
    expect(validateTemplate('t"; drop {slug}')).toMatch(/lower-case/);
  });
});

describe('renderName, more templates', () => {
  it('replaces every {slug} and refuses names that are not plain identifiers', () => {
    expect(renderName('{slug}_{slug}', 'a-b')).toBe('a_b_a_b');
    expect(renderName('t_{slug}', 'acme_2')).toBe('t_acme_2');
    expect(() => renderName('{slug}', '9lives')).toThrow(UsageError);
    expect(() => renderName('T_{slug}', 'acme')).toThrow(/lower-case/);
  });

  it('accepts a template with a digit after a letter, refuses one with a space or a dot', () => {
    expect(validateTemplate('t1_{slug}_db')).toBeUndefined();
    expect(validateTemplate('t {slug}')).toMatch(/lower-case/);
    expect(validateTemplate('app.{slug}')).toMatch(/lower-case/);
  });
});

describe('slugPattern', () => {
  const uuid = '3f2b8c1e-9d4a-4e6b-8a7f-1c2d3e4f5a6b';
  const objectId = '65a1f0c2e4b0a1b2c3d4e5f6';

  it('word (the default) refuses ids that start with a digit; id takes ObjectIds and UUIDs', () => {
    expect(() => validateSlug(objectId)).toThrow(/starting with a letter/);
    expect(validateSlug(objectId, slugRule('id'))).toBe(objectId);
    expect(validateSlug(uuid, slugRule('id'))).toBe(uuid);
    expect(() => validateSlug('acme_corp', slugRule('id'))).toThrow(UsageError); // id has no "_"
  });

  it('a regular expression narrows the safe characters, never widens them', () => {
    const rule = slugRule('^c[0-9]+$')!;
    expect(validateSlug('c42', rule)).toBe('c42');
    expect(() => validateSlug('d42', rule)).toThrow(/match slugPattern/);
    expect(() => validateSlug('C42', slugRule('^.*$'))).toThrow(/only lower-case/);
    expect(validateSlugPattern('(')).toMatch(/regular expression/);
    expect(validateSlugPattern('id')).toBeUndefined();
  });

  it('existing tenants are found whatever the pattern', () => {
    expect(validateSlug('acme_corp', EXISTING_SLUG)).toBe('acme_corp');
    expect(validateSlug(objectId, EXISTING_SLUG)).toBe(objectId);
    expect(() => validateSlug('x;y', EXISTING_SLUG)).toThrow(UsageError);
  });
});

describe('fitName', () => {
  it('keeps names that fit; cuts longer ones to the limit with a stable hash suffix', () => {
    expect(fitName('tenant_acme', 32)).toBe('tenant_acme');
    const long = 'tenant_3f2b8c1e_9d4a_4e6b_8a7f_1c2d3e4f5a6b';
    const fitted = fitName(long, 32);
    expect(fitted).toHaveLength(32);
    expect(fitted).toMatch(/^tenant_3f2b8c1e_9d4a_4e_[0-9a-f]{8}$/);
    expect(fitName(long, 32)).toBe(fitted);
    // Two names alike up to the cut stay apart.
    expect(fitName(`${long.slice(0, -1)}c`, 32)).not.toBe(fitted);
  });
});
