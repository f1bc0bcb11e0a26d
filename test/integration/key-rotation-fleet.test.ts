import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keyFingerprint, parseSecretKey } from '../../src/core/secrets.js';
import { openFleet, RegistryKeyError } from '../../src/index.js';
import { selectedEngines } from '../helpers/engines.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { tempDir } from '../helpers/temp-dir.js';

const reachable = inject('reachableEngines');
const CACHE_TTL_MS = 100;

// Tenants with passwords to rotate: PostgreSQL and MySQL (SQLite tenants have none).
for (const engine of selectedEngines().filter((e) => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`rotate-key while applications run (${engine})`, () => {
    let ws: Workspace;
    const slugs: string[] = [];
    const registryFile = () => join(ws.dir, '.tenantctl', 'registry.sqlite');
    const keyFile = () => join(ws.dir, '.tenantctl', 'secret.key');
    /** How many secrets an interrupted rotation has moved to its new key so far. */
    const converted = async () => {
      const registry = sqliteKnex(registryFile());
      try {
        const to = (await registry('tenantctl_settings').where({ key: 'secret_key_rotating_to' }).first())?.value;
        if (!to) return 0;
        return Number((await registry('tenantctl_tenants').where({ key_fingerprint: to }).count({ n: '*' }))[0]!.n);
      } finally {
        await registry.destroy();
      }
    };
    /** Starts a rotation and kills it once it has re-encrypted some secrets, not all. */
    const killedHalfWay = async (args: string[]) => {
      const slow = ws.start(['rotate-key', ...args], { TENANTCTL_TEST_ROTATE_PAUSE_MS: '3000' });
      await waitFor(async () => (await converted()) >= 1, 60_000);
      slow.child.kill('SIGKILL');
      await slow.done;
      expect(await converted()).toBeLessThan(slugs.length);
    };

    beforeAll(async () => {
      ws = new Workspace(engine);
      for (let i = 0; i < 3; i++) {
        const slug = ws.slug('kr');
        expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
        slugs.push(slug);
      }
    }, 180_000);
    afterAll(async () => {
      await ws.cleanup();
    });

    it(
      'a fleet opened before a rotation keeps serving through a killed one and after the end',
      { timeout: 180_000 },
      async () => {
        const fleet = await openFleet({
          registryUrl: `sqlite:${registryFile()}`,
          secretKeyFile: keyFile(),
          cacheTtlMs: CACHE_TTL_MS,
          readOnly: true,
        });
        const serveAll = async () => {
          await new Promise((r) => setTimeout(r, CACHE_TTL_MS * 2)); // the records are read again
          for (const slug of slugs) await (await fleet.knex(slug)).raw('select 1');
        };
        try {
          await serveAll();
          // Half the secrets under the new key (kept in secret.key.next), half under the old.
          await killedHalfWay(['--generate']);
          await serveAll();
          const finished = await ws.run(['rotate-key', '--generate']);
          expect(finished.code, finished.stderr).toBe(0);
          await serveAll();
        } finally {
          await fleet.close();
        }
      },
    );

    it(
      'a fleet given only the old key fails with RegistryKeyError once the secrets moved on',
      { timeout: 120_000 },
      async () => {
        const oldKey = readFileSync(keyFile(), 'utf8').trim();
        const elsewhere = tempDir('tenantctl-app-'); // no key file there
        const fleet = await openFleet({
          registryUrl: `sqlite:${registryFile()}`,
          secretKey: oldKey,
          cacheTtlMs: CACHE_TTL_MS,
          readOnly: true,
          cwd: elsewhere,
        });
        try {
          await (await fleet.knex(slugs[0]!)).raw('select 1');
          const newKey = join(ws.dir, 'rotated.key');
          writeFileSync(newKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
          const rotated = await ws.run(['rotate-key', '--new-key-file', newKey]);
          expect(rotated.code, rotated.stderr).toBe(0);
          writeFileSync(keyFile(), readFileSync(newKey)); // the operators' own machines get the new key
          await new Promise((r) => setTimeout(r, CACHE_TTL_MS * 2));
          const refused = await fleet.knex(slugs[0]!).then(
            () => undefined,
            (error: unknown) => error,
          );
          expect(refused).toBeInstanceOf(RegistryKeyError);
          expect(String(refused)).toMatch(/put the registry's current key/);
          expect(String(refused)).not.toContain(oldKey);
        } finally {
          await fleet.close();
        }
      },
    );

    it(
      'doctor reports a rotation killed half-way, with the command that finishes it',
      { timeout: 180_000 },
      async () => {
        const key = () => keyFingerprint(parseSecretKey(readFileSync(`${keyFile()}.next`, 'utf8')));
        await killedHalfWay(['--generate']);
        const doctor = await ws.json(['doctor']);
        expect(doctor.result.code, doctor.result.stderr).toBe(1);
        const finding = doctor.data.findings.find((f: { kind: string }) => f.kind === 'interrupted');
        expect(finding).toMatchObject({
          operation: 'rotate-key',
          severity: 'problem',
          target: { type: 'key', fingerprint: key(), file: `${keyFile()}.next` },
          fix: expect.stringMatching(/^tenantctl rotate-key --generate/),
        });

        // A rotation to a key from elsewhere: this machine lacks it, and doctor still reports, not exit 2.
        expect((await ws.run(['rotate-key', '--generate'])).code).toBe(0);
        const newKey = join(ws.dir, `other-${randomBytes(2).toString('hex')}.key`);
        writeFileSync(newKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
        await killedHalfWay(['--new-key-file', newKey]);
        const again = await ws.json(['doctor']);
        expect(again.result.code, again.result.stderr).toBe(1);
        expect(again.data.findings.find((f: { kind: string }) => f.kind === 'interrupted')).toMatchObject({
          operation: 'rotate-key',
          target: { type: 'key', file: null },
          fix: expect.stringMatching(/^tenantctl rotate-key --new-key-file/),
        });
        expect((await ws.run(['rotate-key', '--new-key-file', newKey])).code).toBe(0);
        writeFileSync(keyFile(), readFileSync(newKey));
        const after = await ws.json(['doctor']);
        expect(after.data.findings.filter((f: { operation?: string }) => f.operation === 'rotate-key')).toEqual([]);
      },
    );
  });
}
