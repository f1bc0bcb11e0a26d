import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { driverFor } from '../../src/engines/drivers.js';
import type { EngineDriver, ServerConnection } from '../../src/engines/engine-driver.js';
import { parseServerUrl, type ServerSpec } from '../../src/engines/server-spec.js';
import { SERVER_URLS } from '../helpers/engines.js';

const reachable = inject('reachableEngines');

/** The error `fn` rejects with (fails the test if it resolves). */
async function errorOf(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

/**
 * Drivers classify their own errors: each classifier is checked against what the real server
 * (or file system) throws, not a hand-made error object, and against the other classifiers' errors.
 */
for (const engine of ['sqlite', 'postgres', 'mysql'] as const) {
  describe.skipIf(!reachable.includes(engine))(`${engine} driver errors`, () => {
    const driver: EngineDriver = driverFor(engine);
    const scratch = `tenantctl_errors_${randomBytes(4).toString('hex')}`;
    let directory: string;
    let spec: ServerSpec;
    let server: ServerConnection;
    let knex: Knex;

    beforeAll(async () => {
      directory = mkdtempSync(join(tmpdir(), 'tenantctl-errors-'));
      const admin = engine === 'sqlite' ? { engine, path: directory } : parseServerUrl(SERVER_URLS[engine]);
      server = driver.connect(admin);
      await server.createDatabase(scratch);
      spec =
        engine === 'sqlite' ? { engine, path: join(directory, `${scratch}.sqlite`) } : { ...admin, database: scratch };
      knex = knexFactory(driver.adminKnexConfig(spec));
      await knex.schema.createTable('t', (t) => t.integer('id').primary());
      await knex('t').insert({ id: 1 });
    });

    afterAll(async () => {
      await knex?.destroy();
      await server?.dropDatabase(scratch);
      await server?.close();
      rmSync(directory, { recursive: true, force: true });
    });

    it('has the users capability exactly where the driver says tenants can have users', () => {
      expect(server.users !== undefined).toBe(driver.supportsUsers);
    });

    it('isUniqueViolation: a duplicate primary key, and nothing else', async () => {
      const duplicate = await errorOf(() => knex('t').insert({ id: 1 }));
      expect(driver.isUniqueViolation(duplicate)).toBe(true);
      const missingTable = await errorOf(() => knex('no_such_table').select());
      expect(driver.isUniqueViolation(missingTable)).toBe(false);
      expect(driver.isMissingTableError(missingTable)).toBe(true);
      expect(driver.isMissingTableError(duplicate)).toBe(false);
    });

    it('isGoneError: suspending access to what no longer exists', async () => {
      // What delete's "connections" step meets when it runs again after the user or file went.
      const gone = await errorOf(() =>
        server.suspendAccess(`${scratch}_gone`, engine === 'sqlite' ? null : `${scratch}_gone`),
      );
      expect(driver.isGoneError(gone)).toBe(true);
      expect(driver.isGoneError(await errorOf(() => knex('t').insert({ id: 1 })))).toBe(false);
    });

    // A file has no socket: the server engines only.
    if (engine !== 'sqlite')
      it('closes a connection only when its socket has closed, as the server sees it', async () => {
        // A connection budget frees a slot when the pool's close returns: the server must no
        // longer hold the session then (mysql2 calls back before it has even written its goodbye).
        const own = knexFactory(driver.adminKnexConfig(spec));
        const client = own.client as {
          acquireConnection(): Promise<unknown>;
          releaseConnection(c: unknown): Promise<void>;
        };
        const connection = (await client.acquireConnection()) as { stream?: Socket; connection?: { stream: Socket } };
        const socket = connection.stream ?? connection.connection!.stream;
        await client.releaseConnection(connection);
        expect(socket.closed).toBe(false);
        await own.destroy();
        expect(socket.closed).toBe(true);
      });
  });
}
