import type { Command } from 'commander';
import type { Context } from '../../context/context.js';
import { ServerUnreachableError } from '../../core/errors.js';
import type { ServerListing } from '../../lifecycle/servers/index.js';
import type { ServerInfo } from '../../lifecycle/servers/index.js';
import { withCommandContext } from '../action.js';
import { collectKeyValue, collectList, integerArgument } from '../options.js';
import type { Output } from '../output.js';
import { formatBytes } from '../../core/format-bytes.js';

interface ServerFlags {
  url?: string;
  passwordStdin?: boolean;
  label?: Record<string, string>;
  unlabel?: string[];
  maxTenants?: number | null;
  weight?: number;
  maxConcurrency?: number | null;
  all?: boolean;
  acceptIdentity?: boolean;
}

const wholeNumber = integerArgument();

/** Commander turns a parser's null into '', so "no limit" travels as -1 until the action. */
const NO_LIMIT = -1;

/** A number, or `none` for "no limit". */
function limit(value: string): number {
  return value === 'none' ? NO_LIMIT : wholeNumber(value);
}

const limitValue = (value: number | null | undefined): number | null | undefined => (value === NO_LIMIT ? null : value);

function addSettingOptions(command: Command): Command {
  return command
    .option('--label <key=value>', 'a label for placement (e.g. region=eu), repeatable', collectKeyValue)
    .option('--max-tenants <n|none>', 'most live tenants it takes (default: no limit)', limit)
    .option('--weight <n>', 'its share of new tenants relative to other servers (default 1)', wholeNumber)
    .option(
      '--max-concurrency <n|none>',
      'most tenants fleet commands work on at once on it (default: --concurrency)',
      limit,
    );
}

/** The admin password from stdin or TENANTCTL_SERVER_PASSWORD; never from a flag's value. */
async function passwordFromInputs(flags: ServerFlags): Promise<string | undefined> {
  if (flags.passwordStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  const fromEnv = process.env.TENANTCTL_SERVER_PASSWORD;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

function warnAboutUrlPassword(out: Output, url: string | undefined): void {
  if (url && /^[a-z]+:\/\/[^/@]*:[^/@]+@/i.test(url)) {
    out.warn(
      'warning: the password in --url is visible to other users of this machine (ps) and stays in your shell history; use --password-stdin or TENANTCTL_SERVER_PASSWORD',
    );
  }
}

/**
 * Runs `attempt` with the password the inputs give; when the server refuses a login made without
 * one and a person is at the terminal, asks for it (hidden) and tries once more.
 */
async function withPassword<T>(
  out: Output,
  flags: ServerFlags,
  attempt: (password: string | undefined) => Promise<T>,
): Promise<T> {
  const given = await passwordFromInputs(flags);
  try {
    return await attempt(given);
  } catch (error) {
    const canAsk = given === undefined && !flags.passwordStdin && process.stdin.isTTY && !out.json;
    if (!(canAsk && error instanceof ServerUnreachableError && error.reason === 'login refused')) throw error;
    const { password } = await import('@inquirer/prompts');
    return attempt(await password({ message: 'Admin password:', mask: true }));
  }
}

function renderServer(out: Output, server: ServerInfo | ServerListing): string {
  const health = 'reachable' in server ? server : undefined;
  return out.fields([
    ['name', server.name],
    ['engine', server.engine],
    ['url', server.url],
    ['tls', server.tls ? labelText(server.tls) : 'none (plain connections)'],
    ['version', server.version ?? 'unknown'],
    ['status', server.status],
    ['labels', labelText(server.labels) || 'none'],
    ['tenants', `${server.tenants}${server.maxTenants !== null ? ` of ${server.maxTenants}` : ''}`],
    ['weight', server.weight],
    ['max concurrency', server.concurrency ?? "the run's --concurrency"],
    ['identity', server.identity ?? 'not recorded yet (on first contact)'],
    ...(health
      ? ([
          ['bytes', health.bytes === null ? 'unknown' : formatBytes(health.bytes)],
          ['reachable', health.reachable ? 'yes' : `no (${health.error})`],
        ] as Array<[string, unknown]>)
      : []),
  ]);
}

const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

function renderList(out: Output, servers: ServerListing[]): string {
  if (servers.length === 0) return 'No servers registered. Add one with: tenantctl server add <name> --url <url>';
  return out.table(
    ['name', 'engine', 'address', 'version', 'status', 'labels', 'tenants', 'bytes', 'reachable'],
    servers.map((s) => [
      s.name,
      s.engine,
      s.address,
      s.version,
      s.status === 'active' ? s.status : out.color.yellow(s.status),
      labelText(s.labels),
      `${s.tenants}${s.maxTenants !== null ? `/${s.maxTenants}` : ''}`,
      s.bytes === null ? 'unknown' : formatBytes(s.bytes),
      s.reachable ? out.color.green('yes') : out.color.red(`no: ${s.error}`),
    ]),
  );
}

type Body = (ctx: Context, out: Output) => Promise<{ outcome?: 'ok' | 'noop'; detail?: unknown } | void>;

/** Server commands are about no tenant; those that change something are audited. */
const run = (command: Command, audit: string | null, body: Body) =>
  withCommandContext(command, body, audit ? { command: audit, tenant: null } : undefined);

export function registerServer(program: Command): void {
  const server = program.command('server').description('register and manage the database servers tenants live on');

  addSettingOptions(
    server
      .command('add')
      .description('register a server: checks it answers and that its admin can create databases, users and grants')
      .argument('<name>', "the registry's name for it (letters, digits, '.', '_', '-')")
      .requiredOption('--url <url>', 'admin URL without a password, e.g. postgres://postgres@db1:5432/postgres')
      .option('--password-stdin', 'read the admin password from standard input'),
  ).action(async (name: string, flags: ServerFlags, command: Command) => {
    const { addServer } = await import('../../lifecycle/servers/index.js');
    await run(command, 'server add', async (ctx, out) => {
      warnAboutUrlPassword(out, flags.url);
      const result = await withPassword(out, flags, (password) =>
        addServer(ctx, {
          name,
          url: flags.url!,
          password,
          labels: flags.label,
          maxTenants: limitValue(flags.maxTenants),
          weight: flags.weight,
          concurrency: limitValue(flags.maxConcurrency),
        }),
      );
      out.result(
        result,
        () =>
          `${out.color.green('✔')} Registered server ${out.color.bold(name)}: ${result.version}; its admin can create databases, users and grants\n${renderServer(out, result.server)}`,
      );
      return { detail: { server: name, engine: result.server.engine, address: result.server.address } };
    });
  });

  server
    .command('list')
    .description('every server with its tenants, bytes, and whether it answers now')
    .option('--all', 'include removed servers')
    .action(async (flags: ServerFlags, command: Command) => {
      const { listServers } = await import('../../lifecycle/servers/index.js');
      await run(command, null, async (ctx, out) => {
        const servers = await listServers(ctx, { includeRemoved: flags.all });
        out.result(servers, () => renderList(out, servers));
      });
    });

  server
    .command('show')
    .description('one server in full')
    .argument('<name>', 'the server name')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const { showServer } = await import('../../lifecycle/servers/index.js');
      await run(command, null, async (ctx, out) => {
        const shown = await showServer(ctx, name);
        out.result(shown, () => renderServer(out, shown));
      });
    });

  addSettingOptions(
    server
      .command('update')
      .description("change a server's credentials, labels, capacity, weight or concurrency")
      .argument('<name>', 'the server name')
      .option('--url <url>', 'new admin URL (same engine); tried before it is stored')
      .option('--password-stdin', 'read a new admin password from standard input')
      .option('--unlabel <key>', 'remove a label, repeatable', collectList)
      .option(
        '--accept-identity',
        'confirm that the server now answering is the one meant (rebuilt, restored, failed over): record its identity',
      ),
  ).action(async (name: string, flags: ServerFlags, command: Command) => {
    const { updateServer } = await import('../../lifecycle/servers/index.js');
    await run(command, 'server update', async (ctx, out) => {
      warnAboutUrlPassword(out, flags.url);
      const password = await passwordFromInputs(flags);
      const labels: Record<string, string | null> = { ...flags.label };
      for (const key of flags.unlabel ?? []) labels[key] = null;
      const result = await updateServer(ctx, name, {
        url: flags.url,
        password,
        labels: Object.keys(labels).length ? labels : undefined,
        maxTenants: limitValue(flags.maxTenants),
        weight: flags.weight,
        concurrency: limitValue(flags.maxConcurrency),
        acceptIdentity: flags.acceptIdentity,
      });
      out.result(result, () =>
        result.changed
          ? `${out.color.green('✔')} Updated server ${out.color.bold(name)}\n${renderServer(out, result.server)}`
          : `${out.color.dim('•')} Server ${name} already has that identity; nothing changed`,
      );
      return {
        outcome: result.changed ? 'ok' : 'noop',
        detail: { server: name, acceptIdentity: flags.acceptIdentity },
      };
    });
  });

  for (const [verb, draining, description] of [
    ['drain', true, 'stop placing new tenants on a server; its tenants keep working'],
    ['undrain', false, 'let a drained server take new tenants again'],
  ] as const) {
    server
      .command(verb)
      .description(description)
      .argument('<name>', 'the server name')
      .action(async (name: string, _flags: unknown, command: Command) => {
        const { setServerDraining } = await import('../../lifecycle/servers/index.js');
        await run(command, `server ${verb}`, async (ctx, out) => {
          const result = await setServerDraining(ctx, name, draining);
          out.result(result, () =>
            result.changed
              ? `${out.color.green('✔')} Server ${out.color.bold(name)} is ${result.server.status}${draining ? ': it takes no new tenants; its tenants keep working' : ''}`
              : `${out.color.dim('•')} Server ${name} was already ${result.server.status}`,
          );
          return { outcome: result.changed ? 'ok' : 'noop', detail: { server: name } };
        });
      });
  }

  server
    .command('remove')
    .description('forget a server that holds no live tenants (its databases are not touched)')
    .argument('<name>', 'the server name')
    .action(async (name: string, _flags: unknown, command: Command) => {
      const { removeServer } = await import('../../lifecycle/servers/index.js');
      await run(command, 'server remove', async (ctx, out) => {
        const result = await removeServer(ctx, name);
        out.result(
          result,
          () =>
            `${out.color.green('✔')} Removed server ${out.color.bold(name)}${result.record === 'kept' ? ' (kept as "removed": records of deleted tenants name it)' : ''}`,
        );
        return { detail: { server: name, record: result.record } };
      });
    });
}
