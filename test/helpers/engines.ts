import knexFactory from 'knex';

/** The engines every integration test runs on. Narrow with TENANTCTL_TEST_ENGINES=sqlite,postgres. */
export const ALL_ENGINES = ['sqlite', 'postgres', 'mysql'] as const;
export type TestEngine = (typeof ALL_ENGINES)[number];

/** Admin URLs of the real servers; override with TENANTCTL_TEST_PG_URL / TENANTCTL_TEST_MYSQL_URL. */
export const SERVER_URLS = {
  postgres: process.env.TENANTCTL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  mysql: process.env.TENANTCTL_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306',
} as const;

/** The second instances multi-server tests use (test/servers/second-servers.sh starts them). */
export const SECOND_SERVER_URLS = {
  postgres: process.env.TENANTCTL_TEST_PG2_URL ?? 'postgres://postgres@127.0.0.1:5433/postgres',
  mysql: process.env.TENANTCTL_TEST_MYSQL2_URL ?? 'mysql://root@127.0.0.1:3307',
} as const;

export function selectedEngines(): TestEngine[] {
  const wanted = process.env.TENANTCTL_TEST_ENGINES?.split(',').map((s) => s.trim());
  return ALL_ENGINES.filter((e) => !wanted || wanted.includes(e));
}

/** Tries to reach a server; returns the reason it cannot, or undefined. */
export async function unreachableReason(
  engine: 'postgres' | 'mysql',
  which: 'main' | 'second' = 'main',
): Promise<string | undefined> {
  const url = new URL((which === 'main' ? SERVER_URLS : SECOND_SERVER_URLS)[engine]);
  const knex = knexFactory({
    client: engine === 'postgres' ? 'pg' : 'mysql2',
    connection: {
      host: url.hostname,
      port: Number(url.port),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: url.pathname.slice(1) || undefined,
      connectTimeout: 3000,
    } as never,
    pool: { min: 0, max: 1 },
    acquireConnectionTimeout: 5000,
  });
  try {
    await knex.raw('select 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await knex.destroy();
  }
}
