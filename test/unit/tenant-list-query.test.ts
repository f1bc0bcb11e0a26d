import { describe, expect, it } from 'vitest';
import { parseCreatedAfter, queryTenantList, tenantsCsv } from '../../src/lifecycle/tenants/tenant-list-query.js';
import type { Tenant } from '../../src/registry/tenants-repo.js';

const tenant = (slug: string, over: Partial<Tenant> = {}): Tenant => ({
  id: 1,
  slug,
  name: slug.toUpperCase(),
  status: 'active',
  step: null,
  server: 'sqlite-local',
  database: `tenant_${slug}`,
  user: null,
  plan: null,
  metadata: {},
  lastError: null,
  statusReason: null,
  statusChangedAt: '2026-01-01T00:00:00.000Z',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

const fleet = [
  tenant('acme', { plan: 'pro', createdAt: '2026-03-01T00:00:00.000Z', metadata: { tier: 'eu', seats: 5 } }),
  tenant('beta', { plan: 'free', createdAt: '2026-01-15T00:00:00.000Z', metadata: { tier: 'us' } }),
  tenant('core', { createdAt: '2026-02-01T00:00:00.000Z', metadata: { tier: 'eu', seats: 50 } }),
  tenant('dune', { plan: 'pro', createdAt: '2026-04-01T00:00:00.000Z' }),
];
const slugs = (list: Tenant[]) => list.map((t) => t.slug);

describe('queryTenantList', () => {
  it('sorts by creation, name, plan and size, either way, with missing values last and ties by slug', () => {
    expect(slugs(queryTenantList(fleet, { sort: 'created' }))).toEqual(['beta', 'core', 'acme', 'dune']);
    expect(slugs(queryTenantList(fleet, { sort: 'created', desc: true }))).toEqual(['dune', 'acme', 'core', 'beta']);
    expect(slugs(queryTenantList(fleet, { sort: 'plan' }))).toEqual(['beta', 'acme', 'dune', 'core']);
    expect(slugs(queryTenantList(fleet, { sort: 'plan', desc: true }))).toEqual(['acme', 'dune', 'beta', 'core']);
    const sizes = new Map([
      ['acme', 300],
      ['beta', 100],
      ['core', null],
      ['dune', 200],
    ]);
    expect(slugs(queryTenantList(fleet, { sort: 'size', desc: true }, sizes))).toEqual([
      'acme',
      'dune',
      'beta',
      'core',
    ]);
    expect(slugs(queryTenantList(fleet, {}))).toEqual(['acme', 'beta', 'core', 'dune']);
  });

  it('filters by metadata text and creation time, then pages', () => {
    expect(slugs(queryTenantList(fleet, { where: { tier: 'eu' } }))).toEqual(['acme', 'core']);
    // A number matches its text; a missing key matches nothing.
    expect(slugs(queryTenantList(fleet, { where: { tier: 'eu', seats: '50' } }))).toEqual(['core']);
    expect(slugs(queryTenantList(fleet, { createdAfter: '2026-02-01' }))).toEqual(['acme', 'core', 'dune']);
    expect(slugs(queryTenantList(fleet, { sort: 'created', limit: 2, offset: 1 }))).toEqual(['core', 'acme']);
    expect(slugs(queryTenantList(fleet, { offset: 10 }))).toEqual([]);
  });

  it('refuses a creation time that is not one (exit 2)', () => {
    expect(() => parseCreatedAfter('yesterday')).toThrow(/--created-after/);
    expect(() => parseCreatedAfter('2026-13-45')).toThrow(/--created-after/);
    expect(parseCreatedAfter('2026-01-31T12:00Z')).toBe(Date.parse('2026-01-31T12:00Z'));
  });

  it('writes CSV with quotes where a cell needs them, and metadata as JSON', () => {
    const csv = tenantsCsv([tenant('acme', { name: 'Acme, "Inc"', metadata: { a: 1 } })]);
    expect(csv.split('\r\n')).toEqual([
      'slug,name,status,server,database,plan,createdAt,metadata',
      'acme,"Acme, ""Inc""",active,sqlite-local,tenant_acme,,2026-01-01T00:00:00.000Z,"{""a"":1}"',
      '',
    ]);
  });
});

describe('{meta.<key>} in naming templates', () => {
  it('renders indexed metadata into names, and refuses a missing or unsafe value (exit 2)', async () => {
    const { renderName, validateTemplate } = await import('../../src/core/naming.js');
    expect(validateTemplate('{meta.business_type}_{slug}_db')).toBeUndefined();
    expect(validateTemplate('{meta.x}_db')).toMatch(/\{slug\}/);
    expect(renderName('{meta.business_type}_{slug}_db', 'acme-co', { business_type: 'retail' })).toBe(
      'retail_acme_co_db',
    );
    expect(renderName('t_{meta.n}_{slug}', 'a', { n: 7 })).toBe('t_7_a');
    expect(() => renderName('{meta.business_type}_{slug}', 'acme', {})).toThrow(/needs metadata "business_type"/);
    expect(() => renderName('{meta.business_type}_{slug}', 'acme', { business_type: 'x; drop' })).toThrow(
      /lower-case letters/,
    );
    expect(() => renderName('{meta.business_type}_{slug}', 'acme', { business_type: 'Retail' })).toThrow(
      /lower-case letters/,
    );
  });
});
