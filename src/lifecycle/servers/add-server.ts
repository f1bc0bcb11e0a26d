import { assertAdminPrivileges } from './admin-privileges.js';
import { reachServer } from '../../context/app-context.js';
import type { Context } from '../../context/context.js';
import { readIdentity, registeredTwice } from '../../context/server-identity.js';
import { ConflictError, ServerUnreachableError, UsageError } from '../../core/errors.js';
import { driverFor } from '../../engines/drivers.js';
import { parseServerUrl, serverAddress, type ServerSpec } from '../../engines/server-spec.js';
import {
  findServerByIdentity,
  findServerRow,
  listServerRows,
  upsertServerRow,
  type ServerRow,
} from '../../registry/servers-repo.js';
import { toServerInfo, validateServerName, validateSetting, type ServerInfo } from './server-info.js';

export interface AddServerInput {
  name: string;
  /** The admin URL; a password in it works, though the CLI warns against it. */
  url: string;
  /** The admin password, when it is not in the URL. */
  password?: string;
  labels?: Record<string, string>;
  maxTenants?: number | null;
  weight?: number;
  concurrency?: number | null;
}

export interface AddServerResult {
  server: ServerInfo;
  /** The version string the server gave. */
  version: string;
}

/** The admin connection spec a URL and a separately given password describe. */
export function serverSpecFrom(ctx: Context, url: string, password: string | undefined): ServerSpec {
  const spec = parseServerUrl(url);
  const driver = driverFor(spec.engine);
  const chosen = password ?? spec.password;
  assertUsablePassword(spec.engine, chosen);
  return {
    ...spec,
    password: chosen,
    userHost: driver.accountHosts ? ctx.config.mysqlUserHost : undefined,
  };
}

/** Refuses (exit 2, nothing recorded) an admin password the engine's dump tools cannot be given. */
export function assertUsablePassword(engine: ServerSpec['engine'], password: string | undefined): void {
  const refused = password === undefined ? undefined : driverFor(engine).refusedPassword(password);
  if (refused) throw new UsageError(`the admin password cannot be used: ${refused}`);
}

/**
 * Registers a database server: checks that it answers and that its admin can create databases and
 * users and grant, then records it with its password encrypted and what it says it is (its
 * identity). Nothing is recorded when a check fails. A name already registered is a conflict
 * (`server update` changes it), and so is a server already registered under another name, however
 * its address is written (`localhost` and `127.0.0.1`): servers registered before identities were
 * kept are reached first, to learn theirs.
 */
export async function addServer(ctx: Context, input: AddServerInput): Promise<AddServerResult> {
  validateServerName(input.name);
  validateSetting('--max-tenants', input.maxTenants, 0, 1_000_000);
  validateSetting('--weight', input.weight, 1, 1000);
  validateSetting('--concurrency', input.concurrency, 1, 256);
  const spec = serverSpecFrom(ctx, input.url, input.password);

  const registry = await ctx.registry();
  const existing = await findServerRow(registry.knex, { name: input.name });
  if (existing && existing.status !== 'removed') {
    throw new ConflictError(
      `server "${input.name}" is already registered (change it with: tenantctl server update ${input.name})`,
    );
  }
  const sameAddress = (await listServerRows(registry.knex)).find(
    (row) => row.engine === spec.engine && serverAddress({ ...spec, ...rowAddress(row) }) === serverAddress(spec),
  );
  if (sameAddress)
    throw new ConflictError(`${serverAddress(spec)} is already registered as server "${sameAddress.name}"`);

  const { connection, version } = await reachServer(input.name, {
    ...spec,
    connectTimeoutMs: ctx.config.connectTimeout * 1000,
  });
  let identity: string;
  try {
    identity = await readIdentity(input.name, serverAddress(spec), connection);
    await learnIdentities(ctx, spec.engine);
    const first = await findServerByIdentity(registry.knex, identity);
    if (first && first.name !== input.name) throw registeredTwice(input.name, serverAddress(spec), first, false);
    await assertAdminPrivileges(connection, spec);
  } finally {
    await connection.close();
  }

  const row = await ctx
    .withEncrypted(spec.password, (encryptedPassword) =>
      upsertServerRow(
        registry.knex,
        input.name,
        { spec, encryptedPassword },
        {
          labels: input.labels ?? {},
          maxTenants: input.maxTenants ?? null,
          weight: input.weight ?? 1,
          concurrency: input.concurrency ?? null,
          status: 'active',
          version,
          identity,
        },
      ),
    )
    .catch(async (error: unknown) => {
      // Another name for this server was registered at the same moment: the unique identity refused ours.
      if (!registry.driver.isUniqueViolation(error)) throw error;
      const first = await findServerByIdentity(registry.knex, identity);
      throw first ? registeredTwice(input.name, serverAddress(spec), first, false) : error;
    });
  return { server: toServerInfo(row, 0), version };
}

/**
 * Reaches the servers of an engine registered before identities were kept (none recorded yet), so
 * that each records its own: a new server is then compared with all of them. One that cannot be
 * reached now is compared when it is.
 */
async function learnIdentities(ctx: Context, engine: ServerRow['engine']): Promise<void> {
  const unknown = (await listServerRows((await ctx.registry()).knex)).filter(
    (row) => row.engine === engine && !row.identity,
  );
  await Promise.all(
    unknown.map((row) =>
      ctx.server(row.id).catch((error: unknown) => {
        if (!(error instanceof ServerUnreachableError)) throw error;
      }),
    ),
  );
}

function rowAddress(row: { host: string | null; port: number | null; path: string | null }): Partial<ServerSpec> {
  return { host: row.host ?? undefined, port: row.port ?? undefined, path: row.path ?? undefined };
}
