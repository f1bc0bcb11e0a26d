import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SECOND_SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { withTenantDb } from '../helpers/tenant-db.js';
import { Workspace } from '../helpers/workspace.js';
import { getObject, listKeys, putObject, splitS3, startS3, type TestS3 } from '../helpers/s3-server.js';

const reachable = inject('reachableEngines');

interface BackupJson {
  id: number;
  status: string;
  file: string;
  bytes: number;
  sha256: string;
  encrypted: boolean;
  error: string | null;
}

/**
 * Backups kept in an S3-compatible store (an s3rver started here on 127.0.0.1, or the store
 * TENANTCTL_TEST_S3_URL names), encrypted by default: written, listed, verified, restored,
 * pruned and refused when changed, on every engine.
 */
for (const engine of selectedEngines()) {
  // Many CLI runs per test on a shared machine: a longer deadline than the default minute.
  describe.skipIf(!reachable.includes(engine))(`backups in an S3 store on ${engine}`, { timeout: 240_000 }, () => {
    let s3: TestS3;
    let ws: Workspace;
    beforeAll(async () => {
      s3 = await startS3();
      ws = new Workspace(engine, { env: s3.env });
    });
    afterAll(async () => {
      await ws?.cleanup();
      await s3?.close();
    });

    /** `backup <slug> --json`: the one backup taken. */
    const backup = async (slug: string): Promise<BackupJson> => {
      const { result, data } = await ws.json(['backup', slug]);
      expect(result.code, result.stderr).toBe(0);
      return data.tenants.tenants[0].backup as BackupJson;
    };
    const backupsOf = async (slug: string) => (await ws.json(['backups', slug])).data as BackupJson[];
    const count = (slug: string) =>
      withTenantDb(ws, slug, async (db) => Number((await db('users').count({ n: '*' }))[0]!.n));
    const addUser = (slug: string, email: string) =>
      withTenantDb(ws, slug, (db) => db('users').insert({ email, name: email }));

    it('writes an encrypted backup into the store and nothing on the disk; lists, verifies and restores it from there', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      await addUser(slug, 'a@example.com');
      const before = await count(slug);
      const taken = await backup(slug);
      expect(taken.file).toMatch(new RegExp(`^${s3.env.TENANTCTL_BACKUP_STORE}/${slug}/${slug}-\\d{8}T\\d{6}Z\\.`));
      expect(taken.encrypted).toBe(true);
      expect(existsSync(join(ws.dir, '.tenantctl', 'backups'))).toBe(false);
      const stored = await getObject(s3, taken.file);
      expect(stored.subarray(0, 8).toString()).toBe('TCTLENC1');
      expect(stored.length).toBeGreaterThan(taken.bytes); // header and tags; the record counts the plain dump

      expect((await backupsOf(slug)).map((b) => b.file)).toEqual([taken.file]);
      const verify = await ws.json(['backup', 'verify', slug, '--restore-test']);
      expect(verify.result.code, verify.result.stderr).toBe(0);
      expect(verify.data.backups).toEqual([expect.objectContaining({ file: taken.file, ok: true })]);

      await addUser(slug, 'b@example.com');
      const latest = await ws.run(['restore', slug, '--latest', '--force']);
      expect(latest.code, latest.stderr).toBe(0);
      expect(await count(slug)).toBe(before);
      await addUser(slug, 'c@example.com');
      const from = await ws.run(['restore', slug, '--from', taken.file, '--force']);
      expect(from.code, from.stderr).toBe(0);
      expect(await count(slug)).toBe(before);
    });

    it('refuses a backup changed by one byte, or cut short, before anything is restored', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      const taken = await backup(slug);
      const original = await getObject(s3, taken.file);
      await addUser(slug, 'after@example.com');
      const after = await count(slug);

      const flipped = Buffer.from(original);
      flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
      for (const [what, body] of [
        ['one byte changed', flipped],
        ['cut short', original.subarray(0, original.length - 100)],
        ['cut at its last chunk', original.subarray(0, Math.max(200, original.length - 65_552))],
      ] as const) {
        await putObject(s3, taken.file, body);
        const verify = await ws.json(['backup', 'verify', slug]);
        expect(verify.result.code, what).not.toBe(0);
        expect(verify.data.backups[0].problem, what).toMatch(/authenticate|cut short|checksum|unreadable/);
        const restore = await ws.run(['restore', slug, '--force']);
        expect(restore.code, what).not.toBe(0);
        expect(restore.stderr, what).toMatch(/refusing to restore/);
        expect(await count(slug), what).toBe(after); // nothing was restored
      }
      await putObject(s3, taken.file, original);
      expect((await ws.run(['backup', 'verify', slug])).code).toBe(0);
    });

    it('decrypts a backup with the registry key alone; rotate-key re-wraps every data key and the backups still restore', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      const taken = await backup(slug);
      const keyFile = join(ws.dir, '.tenantctl', 'secret.key');
      const oldKey = join(ws.dir, 'old.key');
      copyFileSync(keyFile, oldKey);
      const out = join(ws.dir, `${slug}.plain`);
      // No registry needed: another directory, only the key file and the store's settings.
      const decrypted = await ws.json(['backup', 'decrypt', '--from', taken.file, '--out', out, '--key-file', oldKey], {
        TENANTCTL_HOME: join(ws.dir, 'elsewhere'),
      });
      expect(decrypted.result.code, decrypted.result.stderr).toBe(0);
      expect(decrypted.data).toMatchObject({ bytes: taken.bytes, sha256: taken.sha256 });
      expect(existsSync(join(ws.dir, 'elsewhere', 'registry.sqlite'))).toBe(false);
      const wrongKey = join(ws.dir, 'wrong.key');
      writeFileSync(wrongKey, randomBytes(32).toString('hex'), { mode: 0o600 });
      const refused = await ws.run([
        'backup',
        'decrypt',
        '--from',
        taken.file,
        '--out',
        `${out}2`,
        '--key-file',
        wrongKey,
      ]);
      expect(refused.code).toBe(2);
      expect(existsSync(`${out}2`)).toBe(false);

      const rotated = await ws.json(['rotate-key', '--generate']);
      expect(rotated.result.code, rotated.result.stderr).toBe(0);
      expect(rotated.data.backups).toBeGreaterThanOrEqual(1);
      expect(readFileSync(keyFile, 'utf8')).not.toBe(readFileSync(oldKey, 'utf8'));
      const verify = await ws.run(['backup', 'verify', slug]);
      expect(verify.code, verify.stderr).toBe(0);
      const restore = await ws.run(['restore', slug, '--force']);
      expect(restore.code, restore.stderr).toBe(0);
      // The file's own header still names the key it was taken under: the old key opens it.
      const again = await ws.run(['backup', 'decrypt', '--from', taken.file, '--out', `${out}3`, '--key-file', oldKey]);
      expect(again.code, again.stderr).toBe(0);
    });

    it('prunes backups from the store (--keep), objects and records together', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      for (let i = 0; i < 3; i++) await backup(slug);
      const all = await backupsOf(slug);
      expect(all).toHaveLength(3);
      const prune = await ws.run(['backups', 'prune', '--keep', '1']);
      expect(prune.code, prune.stderr).toBe(0);
      const left = await backupsOf(slug);
      expect(left.map((b) => b.id)).toEqual([all[0]!.id]);
      const prefix = splitS3(`${s3.env.TENANTCTL_BACKUP_STORE}/${slug}/x`).Key.replace(/x$/, '');
      expect(await listKeys(s3, prefix)).toEqual([splitS3(all[0]!.file).Key]);
    });

    // SQLite has no servers to move between: the test is defined for the server engines only.
    if (engine !== 'sqlite')
      it('moves a tenant to another server and back, its copy read from the store', async () => {
        const server = engine as 'postgres' | 'mysql';
        const added = await ws.run(['server', 'add', 'b', '--url', SECOND_SERVER_URLS[server]]);
        expect(added.code, added.stderr).toBe(0);
        const slug = ws.slug();
        const created = await ws.run(['create', slug]);
        expect(created.code, created.stderr).toBe(0);
        const home = (await ws.json(['show', slug])).data.server as string;
        expect(home).toBeTruthy();
        await addUser(slug, 'moved@example.com');
        const before = await count(slug);
        for (const to of ['b', home]) {
          const moved = await ws.json(['move', slug, '--to', to]);
          expect(moved.result.code, moved.result.stderr).toBe(0);
          const copy = (await backupsOf(slug))[0]!;
          expect(copy.file.startsWith(s3.env.TENANTCTL_BACKUP_STORE!)).toBe(true);
          expect(copy.encrypted).toBe(true);
        }
        expect(await count(slug)).toBe(before); // back on the main server, every row there
      });

    it("doctor checks that the store can be written instead of the disk's free space", async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      expect((await ws.run(['backup', slug])).code).toBe(0);
      const ok = await ws.json(['doctor']);
      expect(ok.data.findings.filter((f: { kind: string }) => f.kind.startsWith('backup_'))).toEqual([]);
      const wrong = await ws.json(['doctor'], { TENANTCTL_BACKUP_STORE: 's3://no-such-bucket-here/x' });
      expect(wrong.result.code).toBe(1);
      expect(wrong.data.findings).toContainEqual(
        expect.objectContaining({ kind: 'backup_store', message: expect.stringMatching(/no-such-bucket-here/) }),
      );
      expect(wrong.result.stdout + wrong.result.stderr).not.toContain(s3.env.AWS_SECRET_ACCESS_KEY ?? '\0');
    });

    it('restores the registry from its encrypted backup in the store once the registry is gone; a changed object restores nothing', async () => {
      const slugs = async () => ((await ws.json(['list'])).data as Array<{ slug: string }>).map((t) => t.slug).sort();
      const before = ws.slug();
      expect((await ws.run(['create', before])).code).toBe(0);
      const taken = await ws.json(['registry', 'backup']);
      expect(taken.result.code, taken.result.stderr).toBe(0);
      const file = taken.data.file as string;
      expect(file.startsWith(`${s3.env.TENANTCTL_BACKUP_STORE}/_registry/`)).toBe(true);
      const original = await getObject(s3, file);
      expect(original.subarray(0, 8).toString()).toBe('TCTLENC1');
      const known = await slugs();
      const after = ws.slug();
      expect((await ws.run(['create', after])).code).toBe(0);

      // One byte changed in the store: refused before the registry is touched.
      const flipped = Buffer.from(original);
      flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
      await putObject(s3, file, flipped);
      const refused = await ws.run(['registry', 'restore', '--from', file, '--yes']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/authenticate/);
      expect(await slugs()).toEqual([...known, after].sort());
      await putObject(s3, file, original);

      // The registry lost (its file gone): restored from the store with the key file alone.
      for (const suffix of ['', '-wal', '-shm'])
        rmSync(join(ws.dir, '.tenantctl', `registry.sqlite${suffix}`), { force: true });
      const restored = await ws.json(['registry', 'restore', '--from', file, '--yes']);
      expect(restored.result.code, restored.result.stderr).toBe(0);
      expect(restored.data).toMatchObject({ file, tenants: known.length });
      expect(await slugs()).toEqual(known);
      const records = (await ws.json(['backups', '_registry'])).data as Array<{ file: string; status: string }>;
      expect(records.find((r) => r.file === file)?.status).toBe('ok');
      expect(readdirSync(tmpdir()).filter((f) => f.startsWith('tenantctl-registry-'))).toEqual([]);
    });
  });
}
