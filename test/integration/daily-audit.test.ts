import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspace } from '../helpers/workspace.js';

/** The audit log's outcome of a dry run is engine-independent: SQLite proves it. */
describe('dry runs in the audit log', () => {
  let ws: Workspace;
  let slug: string;
  beforeAll(async () => {
    ws = new Workspace('sqlite');
    slug = ws.slug('da');
    expect((await ws.run(['create', slug])).code).toBe(0);
  });
  afterAll(async () => {
    await ws.cleanup();
  });
  const latest = async () => {
    const { data } = await ws.json(['log', slug, '--limit', '1']);
    return data[0] as { command: string; outcome: string };
  };

  it('logs delete --dry-run and migrate --dry-run as dry-run, not ok; the real ones as ok', async () => {
    expect((await ws.run(['delete', slug, '--dry-run'])).code).toBe(0);
    expect(await latest()).toMatchObject({ command: 'delete', outcome: 'dry-run' });
    expect((await ws.json(['show', slug])).data.status).toBe('active');
    expect((await ws.run(['migrate', slug, '--dry-run'])).code).toBe(0);
    expect(await latest()).toMatchObject({ command: 'migrate', outcome: 'dry-run' });
    expect((await ws.run(['delete', slug, '--yes', '--no-backup'])).code).toBe(0);
    expect(await latest()).toMatchObject({ command: 'delete', outcome: 'ok' });
  });
});
