import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspace } from '../helpers/workspace.js';

/** Metadata types live in the registry, whatever engine the tenants are on: SQLite proves it. */
describe('typed metadata (--set-json)', () => {
  let ws: Workspace;
  let slug: string;
  beforeAll(() => {
    ws = new Workspace('sqlite');
    slug = ws.slug('dm');
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it('keeps JSON types through create, show, list --json and update; --set stays a string', async () => {
    const created = await ws.run([
      'create',
      slug,
      '--set',
      'region=eu',
      '--set',
      'seats=50',
      '--set-json',
      'max_users=50',
      '--set-json',
      'features={"beta":true,"tags":["a","b"]}',
      '--set-json',
      'archived=false',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const expected = {
      region: 'eu',
      seats: '50',
      max_users: 50,
      features: { beta: true, tags: ['a', 'b'] },
      archived: false,
    };
    expect((await ws.json(['show', slug])).data.metadata).toEqual(expected);
    const listed = (await ws.json(['list'])).data;
    const row = (Array.isArray(listed) ? listed : listed.tenants).find((t: { slug: string }) => t.slug === slug);
    expect(row.metadata).toEqual(expected);
    expect((await ws.run(['update', slug, '--set-json', 'max_users=60', '--set-json', 'limits=null'])).code).toBe(0);
    const updated = (await ws.json(['show', slug])).data.metadata;
    expect(updated.max_users).toBe(60);
    expect(updated.limits).toBeNull();
  });

  it('refuses a value that is not JSON, or a key given by both --set and --set-json (exit 2, nothing changed)', async () => {
    expect((await ws.run(['update', slug, '--set-json', 'max_users={oops'])).code).toBe(2);
    expect((await ws.run(['update', slug, '--set', 'k=1', '--set-json', 'k=1'])).code).toBe(2);
    expect((await ws.run(['create', ws.slug('dm'), '--set-json', `big="${'x'.repeat(10_001)}"`])).code).toBe(2);
    expect((await ws.json(['show', slug])).data.metadata.max_users).toBe(60);
  });

  it('list filters by metadata and creation time, sorts, pages, and writes CSV', async () => {
    const other = ws.slug('dm');
    expect((await ws.run(['create', other, '--set', 'region=us', '--plan', 'pro'])).code).toBe(0);
    const listed = async (...args: string[]) => {
      const { result, data } = await ws.json(['list', ...args]);
      expect(result.code, result.stderr).toBe(0);
      return (data as Array<{ slug: string }>).map((t) => t.slug);
    };
    expect(await listed('--where', 'meta.region=eu')).toEqual([slug]);
    expect(await listed('--where', 'meta.max_users=60')).toEqual([slug]);
    expect(await listed('--sort', 'created', '--desc', '--limit', '1')).toEqual([other]);
    expect(await listed('--sort', 'created', '--offset', '1')).toEqual([other]);
    expect(await listed('--created-after', '2999-01-01')).toEqual([]);
    expect((await listed('--sort', 'size', '--desc')).sort()).toEqual([slug, other].sort());
    const csv = await ws.run(['list', '--format', 'csv', '--where', 'meta.region=us']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\r\n');
    expect(lines[0]).toBe('slug,name,status,server,database,plan,createdAt,metadata');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^${other},${other},active,sqlite-local,`));
    for (const bad of [
      ['--sort', 'weight'],
      ['--where', 'region=eu'],
      ['--created-after', 'soon'],
      ['--limit', '-1'],
      ['--format', 'xml'],
    ])
      expect((await ws.run(['list', ...bad])).code, bad.join(' ')).toBe(2);
  });
});
