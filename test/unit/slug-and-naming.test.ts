import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { renderName, validateTemplate } from '../../src/core/naming.js';
import { validateSlug } from '../../src/core/slug.js';

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
