import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withTenantDb } from '../helpers/tenant-db.js';
import { Workspace } from '../helpers/workspace.js';
import { listKeys, partsInProgress, splitS3, startS3, type TestS3 } from '../helpers/s3-server.js';

const reachable = inject('reachableEngines');

interface BackupJson {
  id: number;
  status: string;
  file: string;
  bytes: number | null;
  error: string | null;
}

/** Polls `check` every 50 ms while `done` is pending; returns the highest value it saw. */
async function highestWhile(done: Promise<unknown>, check: () => number): Promise<number> {
  let highest = 0;
  let settled = false;
  void done.finally(() => (settled = true));
  while (!settled) {
    highest = Math.max(highest, check());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return highest;
}

/**
 * A dump of tens of megabytes goes to the store as a multipart upload, straight from pg_dump
 * (its parts appear while the dump runs); an s3rver stopped in the middle of one leaves no
 * object and a `failed` record. An s3rver of this file's own (it is stopped), whatever
 * TENANTCTL_TEST_S3_URL says.
 */
describe.skipIf(!reachable.includes('postgres'))('large backups into an S3 store (postgres)', () => {
  let s3: TestS3;
  let ws: Workspace;
  let slug: string;
  beforeAll(async () => {
    s3 = await startS3(true);
    ws = new Workspace('postgres', { env: s3.env });
    slug = ws.slug();
    expect((await ws.run(['create', slug])).code).toBe(0);
    // About 60 MB of text that compresses to about half: a dump of several 8 MB parts, quickly.
    await withTenantDb(ws, slug, async (db) => {
      await db.raw(
        'create table big as select g as id, md5(g::text) || md5(random()::text) as a, md5(random()::text) as b from generate_series(1, 600000) g',
      );
      await db.raw(`alter table big owner to "${ws.names(slug).user}"`);
    });
  }, 120_000);
  afterAll(async () => {
    await ws?.cleanup();
    await s3?.close();
  });

  const backupsOf = async () => (await ws.json(['backups', slug])).data as BackupJson[];

  it('uploads a large dump in parts while it is dumped, and verifies it from the store', async () => {
    const run = ws.start(['backup', slug, '--json']);
    const parts = await highestWhile(run.done, () => partsInProgress(s3));
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const backup = JSON.parse(result.stdout).tenants.tenants[0].backup as BackupJson;
    expect(backup.bytes).toBeGreaterThan(3 * 8 * 1024 * 1024);
    expect(parts).toBeGreaterThanOrEqual(3);
    const verify = await ws.run(['backup', 'verify', slug]);
    expect(verify.code, verify.stderr).toBe(0);
  }, 180_000);

  it('the store stopped mid-upload: the backup fails, no object is left and the record says failed', async () => {
    const before = (await backupsOf()).length;
    const run = ws.start(['backup', slug, '--json']);
    // Stopped once the first part has arrived: the upload is under way.
    while (partsInProgress(s3) < 1) await new Promise((resolve) => setTimeout(resolve, 20));
    await s3.stop();
    const result = await run.done;
    await s3.restart();
    expect(result.code).not.toBe(0);
    const rows = await backupsOf();
    expect(rows).toHaveLength(before + 1);
    const failed = rows[0]!;
    expect(failed.status).toBe('failed');
    expect(failed.error).toBeTruthy();
    expect(await listKeys(s3, splitS3(failed.file).Key)).toEqual([]);
    // The store back: the next backup works.
    expect((await ws.run(['backup', slug])).code).toBe(0);
  }, 180_000);
});
