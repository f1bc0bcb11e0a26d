import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decryptSecret, encryptSecret, keyFingerprint, parseSecretKey } from '../../src/core/secrets.js';
import { createContext, createTenant } from '../../src/index.js';
import { selectedEngines } from '../helpers/engines.js';
import { canQuery } from '../helpers/server-probe.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';

const reachable = inject('reachableEngines');

/** The workspace's embedded registry, read directly, as an operator with sqlite3 would. */
function registryOf(ws: Workspace): Knex {
  return sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
}

const keyFile = (ws: Workspace) => join(ws.dir, '.tenantctl', 'secret.key');

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`secret rotation on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it(
      'rotates the registry key, finishes a rotation killed half-way, and refuses the old key',
      { timeout: 240_000 },
      async () => {
        const fresh = new Workspace(engine);
        const registry = registryOf(fresh);
        try {
          const slugs = Array.from({ length: 3 }, () => fresh.slug('rk-'));
          for (const slug of slugs) expect((await fresh.run(['create', slug, '--no-seed'])).code).toBe(0);
          expect((await fresh.run(['init'])).code).toBe(0); // the key exists even with no password to encrypt
          const oldKey = readFileSync(keyFile(fresh), 'utf8');
          const before = await registry('tenantctl_tenants').whereNotNull('password_enc').count({ n: '*' });
          const secrets = Number(before[0]!.n);
          expect(secrets).toBe(engine === 'sqlite' ? 0 : slugs.length); // SQLite tenants have no passwords

          if (secrets > 0) {
            // Killed after the first row: some secrets under the new key, the rest under the old.
            const slow = fresh.start(['rotate-key', '--generate'], { TENANTCTL_TEST_ROTATE_PAUSE_MS: '2000' });
            const converted = async () => {
              const to = (await registry('tenantctl_settings').where({ key: 'secret_key_rotating_to' }).first())?.value;
              return to
                ? Number((await registry('tenantctl_tenants').where({ key_fingerprint: to }).count({ n: '*' }))[0]!.n)
                : 0;
            };
            await waitFor(async () => (await converted()) >= 1);
            slow.child.kill('SIGKILL');
            expect((await slow.done).signal).toBe('SIGKILL');
            expect(await converted()).toBeLessThan(secrets);
            // Every secret is readable with the old or the new key.
            const next = parseSecretKey(readFileSync(`${keyFile(fresh)}.next`, 'utf8'));
            for (const row of await registry('tenantctl_tenants').whereNotNull('password_enc')) {
              const key = row.key_fingerprint === keyFingerprint(next) ? next : parseSecretKey(oldKey);
              expect(decryptSecret(row.password_enc, key)).toMatch(/^[A-Za-z0-9_-]{32}$/);
            }
          }

          const again = await fresh.json(['rotate-key', '--generate']);
          expect(again.result.code, again.result.stderr).toBe(0);
          expect(again.data).toMatchObject({ changed: true, resumed: secrets > 0, keyFile: keyFile(fresh) });
          expect(again.data.to).not.toBe(keyFingerprint(parseSecretKey(oldKey)));
          expect(existsSync(`${keyFile(fresh)}.next`)).toBe(false);
          expect(readFileSync(keyFile(fresh), 'utf8')).not.toBe(oldKey);

          // Every password now decrypts with the new key (the next command uses it) and logs in.
          for (const slug of slugs) {
            const shown = await fresh.json(['show', slug, '--show-password']);
            expect(shown.result.code, shown.result.stderr).toBe(0);
            const { database, user } = fresh.names(slug);
            expect(await canQuery(fresh.probe.connectAs(database, user, shown.data.password))).toBe(true);
          }
          if (secrets > 0) {
            const rows = await registry('tenantctl_tenants').whereNotNull('password_enc');
            expect(rows.every((r) => r.key_fingerprint === again.data.to)).toBe(true);
          }

          // The old key is refused, exit 2; running the rotation once more changes nothing.
          writeFileSync(join(fresh.dir, 'old.key'), oldKey, { mode: 0o600 });
          const refused = await fresh.run(['init'], { TENANTCTL_SECRET_KEY_FILE: join(fresh.dir, 'old.key') });
          expect(refused.code).toBe(2);
          expect(refused.stderr).toMatch(/not the one this registry was set up with/);
          const log = await fresh.json(['log']);
          expect(log.data[0]).toMatchObject({ command: 'rotate-key', outcome: 'ok' });
          expect(JSON.stringify(log.data)).not.toContain(oldKey.trim());
        } finally {
          await registry.destroy();
          await fresh.cleanup();
        }
      },
    );

    it(
      'rotates to a key from --new-key-file; afterwards only that key opens the registry',
      { timeout: 180_000 },
      async () => {
        const fresh = new Workspace(engine);
        try {
          const slug = fresh.slug();
          expect((await fresh.run(['create', slug, '--no-seed'])).code).toBe(0);
          const newKey = join(fresh.dir, 'new.key');
          writeFileSync(newKey, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
          const rotated = await fresh.json(['rotate-key', '--new-key-file', newKey]);
          expect(rotated.result.code, rotated.result.stderr).toBe(0);
          expect(rotated.data.to).toBe(keyFingerprint(parseSecretKey(readFileSync(newKey, 'utf8'))));
          expect((await fresh.run(['init'])).code).toBe(2); // the old key file
          const shown = await fresh.json(['show', slug, '--show-password'], { TENANTCTL_SECRET_KEY_FILE: newKey });
          expect(shown.result.code, shown.result.stderr).toBe(0);
          const { database, user } = fresh.names(slug);
          expect(await canQuery(fresh.probe.connectAs(database, user, shown.data.password))).toBe(true);
          const repeated = await fresh.json(['rotate-key', '--new-key-file', newKey], {
            TENANTCTL_SECRET_KEY_FILE: newKey,
          });
          expect(repeated.result.code).toBe(0);
          expect(repeated.data.changed).toBe(false);
          expect((await fresh.run(['rotate-key', '--new-key-file', join(fresh.dir, 'missing.key')])).code).toBe(2);
        } finally {
          await fresh.cleanup();
        }
      },
    );

    if (engine === 'sqlite') {
      it('reports SQLite tenants as skipped: they have no password to rotate', async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        const { result, data } = await ws.json(['rotate-password', slug]);
        expect(result.code, result.stderr).toBe(0);
        expect(data.tenants).toEqual([expect.objectContaining({ slug, outcome: 'skipped' })]);
      });
    } else {
      it(
        'rotates one tenant password: the old one stops working, the new one logs in, open sessions stay',
        { timeout: 180_000 },
        async () => {
          const slug = ws.slug();
          expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
          const { database, user } = ws.names(slug);
          const oldPassword = (await ws.json(['show', slug, '--show-password'])).data.password as string;
          const admin = ws.probe.admin(database);
          const verifier = async () =>
            (await admin.raw('select rolpassword from pg_authid where rolname = ?', [user])).rows[0]
              .rolpassword as string;
          const oldVerifier = engine === 'postgres' ? await verifier() : undefined;
          const session = ws.probe.connectAs(database, user, oldPassword);
          const sessionId = async () => {
            const result = await session.raw(
              engine === 'postgres' ? 'select pg_backend_pid() as id' : 'select connection_id() as id',
            );
            return Number((engine === 'postgres' ? result.rows : result[0])[0].id);
          };
          try {
            const opened = await sessionId();
            const { result, data } = await ws.json(['rotate-password', slug]);
            expect(result.code, result.stderr).toBe(0);
            expect(data).toMatchObject({ ok: true, counts: { rotated: 1, failed: 0 } });
            expect(result.stdout + result.stderr).not.toContain(oldPassword);

            const newPassword = (await ws.json(['show', slug, '--show-password'])).data.password as string;
            expect(newPassword).not.toBe(oldPassword);
            expect(result.stdout).not.toContain(newPassword);
            expect(await canQuery(ws.probe.connectAs(database, user, newPassword))).toBe(true);
            if (engine === 'mysql') expect(await canQuery(ws.probe.connectAs(database, user, oldPassword))).toBe(false);
            else {
              // The test PostgreSQL trusts local logins: the stored verifier proves the change.
              const now = await verifier();
              expect(now).toMatch(/^SCRAM-SHA-256\$/);
              expect(now).not.toBe(oldVerifier);
            }
            expect(await sessionId()).toBe(opened); // the open session was kept

            const log = await ws.json(['log', slug]);
            expect(log.data[0]).toMatchObject({ command: 'rotate-password', tenant: slug, outcome: 'ok' });
            expect(JSON.stringify(log.data)).not.toContain(newPassword);

            expect((await ws.run(['rotate-password', slug, '--end-sessions'])).code).toBe(0);
            // Ended: the pool's next query fails or runs on a new connection.
            expect(await sessionId().catch(() => -1)).not.toBe(opened);
          } finally {
            await session.destroy();
            await admin.destroy();
          }
        },
      );

      it('finishes a rotation killed between recording the new password and setting it', async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        const { database, user } = ws.names(slug);
        // The state a kill leaves: the new password recorded (encrypted) as pending, the server unchanged.
        const pending = `Pending${randomBytes(12).toString('hex')}`;
        const registry = registryOf(ws);
        try {
          const key = parseSecretKey(readFileSync(keyFile(ws), 'utf8'));
          await registry('tenantctl_tenants')
            .where({ slug })
            .update({ password_pending_enc: encryptSecret(pending, key) });
        } finally {
          await registry.destroy();
        }
        const doctor = await ws.json(['doctor']);
        expect(doctor.data.findings).toContainEqual(
          expect.objectContaining({
            kind: 'interrupted',
            tenant: slug,
            fix: expect.stringContaining(`rotate-password ${slug}`),
          }),
        );

        const { result, data } = await ws.json(['rotate-password', '--all', '--tenants', slug]);
        expect(result.code, result.stderr).toBe(0);
        expect(data.tenants[0]).toMatchObject({ slug, outcome: 'rotated', finished: true });
        expect((await ws.json(['show', slug, '--show-password'])).data.password).toBe(pending);
        expect(await canQuery(ws.probe.connectAs(database, user, pending))).toBe(true);
      });
    }

    if (engine !== 'sqlite') {
      it(
        'refuses a secret a command encrypts with the old key after a rotation finished, and writes nothing',
        { timeout: 120_000 },
        async () => {
          const fresh = new Workspace(engine);
          try {
            expect((await fresh.run(['init'])).code).toBe(0);
            const ctx = createContext({}, { cwd: fresh.dir, env: fresh.env });
            try {
              await ctx.secretKey(); // a command that started before the rotation holds the old key
              const newKey = join(fresh.dir, 'new.key');
              writeFileSync(newKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
              const rotated = await fresh.run(['rotate-key', '--new-key-file', newKey]);
              expect(rotated.code, rotated.stderr).toBe(0);
              const slug = fresh.slug('late-');
              await expect(createTenant(ctx, { slug, seed: false })).rejects.toThrow(/rotated while this command ran/);
              expect((await fresh.run(['show', slug], { TENANTCTL_SECRET_KEY_FILE: newKey })).code).toBe(3);
              expect(await fresh.probe.databaseExists(fresh.names(slug).database)).toBe(false);
            } finally {
              await ctx.close();
            }
          } finally {
            await fresh.cleanup();
          }
        },
      );
    }

    if (engine === 'mysql') {
      it('exits 1 when a password could not be rotated, saying which tenant and why', async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        const { database, user } = ws.names(slug);
        const admin = ws.probe.admin(database);
        try {
          await admin.raw('drop user ?@?', [user, '%']); // gone behind tenantctl's back
        } finally {
          await admin.destroy();
        }
        const { result, data } = await ws.json(['rotate-password', slug]);
        expect(result.code).toBe(1);
        expect(data.tenants[0]).toMatchObject({ slug, outcome: 'failed' });
        expect(data.tenants[0].error).toBeTruthy();
      });

      it('doctor finds a stored password that no longer logs in, and passwords older than --password-max-age', async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        const { database, user } = ws.names(slug);
        const admin = ws.probe.admin(database);
        try {
          await admin.raw('alter user ?@? identified by ?', [
            user,
            '%',
            `changed-behind-our-back-${randomBytes(4).toString('hex')}`,
          ]);
        } finally {
          await admin.destroy();
        }
        const doctor = await ws.json(['doctor', '--password-max-age', '0m']);
        expect(doctor.result.code).toBe(1);
        const mine = doctor.data.findings
          .filter((f: { tenant: string }) => f.tenant === slug)
          .map((f: { kind: string }) => f.kind);
        expect(mine).toEqual(expect.arrayContaining(['password_login_fails', 'stale_password']));
        expect((await ws.run(['rotate-password', slug])).code).toBe(0);
        const after = await ws.json(['doctor']);
        expect(
          after.data.findings.filter((f: { tenant: string }) => f.tenant === slug).map((f: { kind: string }) => f.kind),
        ).not.toContain('password_login_fails');
      });
    }

    it('refuses bad input with exit 2 and unknown tenants with exit 3, changing nothing', async () => {
      expect((await ws.run(['rotate-password'])).code).toBe(2);
      expect((await ws.run(['rotate-password', 'Not A Slug'])).code).toBe(2);
      expect((await ws.run(['rotate-password', ws.slug('nobody-')])).code).toBe(3);
      expect((await ws.run(['rotate-key'])).code).toBe(2);
    });
  });
}
