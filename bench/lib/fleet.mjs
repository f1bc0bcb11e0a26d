// A benchmark fleet: N tenants on one engine, created through tenantctl's own library (in
// process, concurrently, so setup does not dominate the run), and dropped afterwards.
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory from 'knex';
import { pool } from './measure.mjs';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(REPO, 'bin', 'tenantctl');

const { resolveConfig } = await import(join(REPO, 'dist/config/resolve-config.js'));
const { AppContext } = await import(join(REPO, 'dist/context/app-context.js'));
const { createTenant } = await import(join(REPO, 'dist/lifecycle/tenants/create-tenant.js'));
const { listTenantRows } = await import(join(REPO, 'dist/registry/tenants-repo.js'));
const { dropTenantDatabase } = await import(join(REPO, 'dist/lifecycle/shared/tenant-database.js'));
const { dropTemplates } = await import(join(REPO, 'dist/lifecycle/templates/manage-templates.js'));

export const SERVER_URLS = {
  postgres: process.env.TENANTCTL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  mysql: process.env.TENANTCTL_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306',
};

/** The second instance of each engine (test/servers/second-servers.sh starts it). */
export const SECOND_SERVER_URLS = {
  postgres: process.env.TENANTCTL_TEST_PG2_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres',
  mysql: process.env.TENANTCTL_TEST_MYSQL2_URL ?? 'mysql://root@127.0.0.1:3307',
};

export class BenchFleet {
  /**
   * `servers: 2` spreads the tenants over the main and the second instance, placed by tenantctl.
   * `dir`: a fleet kept by an earlier run (`--keep`), whose tenants exist already (`created`).
   */
  constructor(engine, count, { servers = 1, prefix = 'bench', dir } = {}) {
    this.servers = servers;
    this.prefix = prefix;
    this.engine = engine;
    this.count = count;
    this.created = Boolean(dir);
    this.dir = dir ?? mkdtempSync(join(tmpdir(), `tenantctl-bench-${engine}-`));
    if (!dir) {
      cpSync(join(REPO, 'migrations'), join(this.dir, 'migrations'), { recursive: true });
      cpSync(join(REPO, 'seeds'), join(this.dir, 'seeds'), { recursive: true });
      // Laid out like an application: the knex CLI of the naive baseline finds knex here.
      symlinkSync(join(REPO, 'node_modules'), join(this.dir, 'node_modules'));
    }
    this.env = {
      ...(servers === 1 ? { TENANTCTL_SERVER_URL: SERVER_URLS[engine] } : {}),
      TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`,
      TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}`,
    };
    this.slugs = Array.from({ length: count }, (_, i) => `t${String(i).padStart(5, '0')}`);
  }

  /** A context on this fleet's registry, as the CLI would build it. */
  context() {
    const { config } = resolveConfig({ flags: {}, env: { ...process.env, ...this.env }, cwd: this.dir });
    return new AppContext(config);
  }

  async create(concurrency = 8) {
    const ctx = this.context();
    try {
      if (this.servers > 1) {
        const { addServer } = await import(join(REPO, 'dist/lifecycle/servers/add-server.js'));
        await addServer(ctx, { name: 'main', url: SERVER_URLS[this.engine] });
        await addServer(ctx, { name: 'second', url: SECOND_SERVER_URLS[this.engine] });
      }
      await pool(this.slugs, concurrency, async (slug) => {
        await createTenant(ctx, { slug });
      });
    } finally {
      await ctx.close();
    }
  }

  database(slug) {
    return `${this.prefix}_${slug}`;
  }

  /** The knex client of the fleet's engine. */
  get client() {
    return this.engine === 'postgres' ? 'pg' : 'mysql2';
  }

  /** Connection settings for one database of the fleet's server, with its admin login. */
  adminConnection(database) {
    const url = new URL(this.env.TENANTCTL_SERVER_URL);
    return {
      host: url.hostname,
      port: Number(url.port),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database,
    };
  }

  /** A knex on one database of the fleet's server with its admin login, as a hand-written script would open. */
  adminKnex(database) {
    return knexFactory({ client: this.client, connection: this.adminConnection(database), pool: { min: 0, max: 1 } });
  }

  async destroy() {
    const ctx = this.context();
    try {
      const registry = await ctx.registry();
      const rows = await listTenantRows(registry.knex);
      await pool(rows, 8, async (row) => {
        const server = await ctx.server(row.server_id);
        await dropTenantDatabase(server.connection, row.database_name, row.database_user);
      });
      // The schema templates the fleet's creates built on each server go with it.
      await dropTemplates(ctx);
    } finally {
      await ctx.close();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
