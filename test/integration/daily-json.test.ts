import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspace } from '../helpers/workspace.js';

/** The JSON shapes are the CLI's, whatever the engine: SQLite proves them. */
describe('one JSON shape for a tenant, and schemaVersion', () => {
  let ws: Workspace;
  let slug: string;
  beforeAll(() => {
    ws = new Workspace('sqlite');
    slug = ws.slug('dj');
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it('create, update, suspend and reactivate put the tenant at the top as show does, keeping .tenant', async () => {
    const created = (await ws.json(['create', slug])).data;
    const shown = (await ws.json(['show', slug])).data;
    expect(created.schemaVersion).toBe(1);
    expect(shown.schemaVersion).toBe(1);
    for (const key of ['slug', 'name', 'status', 'server', 'database', 'user', 'plan', 'metadata', 'createdAt'])
      expect(created[key], key).toEqual(shown[key]);
    expect(created.tenant.slug).toBe(slug);
    const updated = (await ws.json(['update', slug, '--plan', 'pro'])).data;
    expect(updated).toMatchObject({ schemaVersion: 1, slug, plan: 'pro', changed: ['plan'], tenant: { plan: 'pro' } });
    const suspended = (await ws.json(['suspend', slug])).data;
    expect(suspended).toMatchObject({ schemaVersion: 1, slug, status: 'suspended', changed: true });
    const reactivated = (await ws.json(['reactivate', slug])).data;
    expect(reactivated).toMatchObject({ schemaVersion: 1, slug, status: 'active' });
  });

  it('every object document carries schemaVersion: results, stats, doctor, errors; lists stay arrays', async () => {
    expect((await ws.json(['stats'])).data.schemaVersion).toBe(1);
    expect((await ws.json(['doctor', slug])).data.schemaVersion).toBe(1);
    expect((await ws.json(['show', 'nobody'])).data).toMatchObject({ schemaVersion: 1, ok: false });
    expect(Array.isArray((await ws.json(['list'])).data)).toBe(true);
  });
});
