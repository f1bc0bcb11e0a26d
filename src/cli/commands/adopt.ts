import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import { withCommandContext } from '../action.js';
import { collectKeyValue } from '../options.js';

interface AdoptFlags {
  server?: string;
  database?: string;
  match?: string;
  slugFrom?: string;
  dryRun?: boolean;
  user?: string;
  passwordStdin?: boolean;
  createUser?: boolean;
  migrate?: boolean;
  name?: string;
  plan?: string;
  set?: Record<string, string>;
  abandon?: boolean;
}

const STEP_LABELS = {
  'adopt-user': 'Creating database user',
  'adopt-objects': 'Giving the objects to the new user',
  'adopt-mark': 'Writing the ownership mark',
  'adopt-setup': 'Running the admin setup',
  'adopt-read': 'Reading the migration table',
  migrations: 'Running migrations',
} as const;

/** The application user's password: stdin, TENANTCTL_TENANT_PASSWORD, or asked at a terminal. */
async function tenantPassword(flags: AdoptFlags, json: boolean): Promise<string | undefined> {
  if (!flags.user) return undefined;
  if (flags.passwordStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  const fromEnv = process.env.TENANTCTL_TENANT_PASSWORD;
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY || !process.stderr.isTTY || json) return undefined;
  const { password } = await import('@inquirer/prompts');
  return password({ message: `Password of ${flags.user}:`, mask: true });
}

export function registerAdopt(program: Command): void {
  program
    .command('adopt')
    .description('bring existing databases under tenantctl without touching their data')
    .argument('[slug]', 'the tenant slug to adopt the database as (one database, with --database)')
    .option('--server <name>', 'the registered server the database is on (default: the configured server)')
    .option('--database <name>', 'the existing database to adopt')
    .option('--match <pattern>', "adopt every database whose name matches this LIKE pattern ('app_%')")
    .option(
      '--slug-from <regex>',
      "with --match: the slug is this expression's first group (default: the naming template)",
    )
    .option('--dry-run', 'with --match: list what would be adopted, adopt nothing')
    .option('--user <name>', "keep the application's existing database user (its password verified by a login)")
    .option('--password-stdin', "read --user's password from standard input (or TENANTCTL_TENANT_PASSWORD)")
    .option('--create-user', 'make a least-privilege user of its own, owning the objects afterwards')
    .option('--migrate', 'run pending migrations once adopted (default: none)')
    .option('--name <name>', 'display name (default: the slug)')
    .option('--plan <plan>', 'plan name, free text')
    .option('--set <key=value>', 'metadata entry, repeatable', collectKeyValue)
    .option('--abandon', 'give up an unfinished adopt of <slug>: the database is kept, the tenant forgotten')
    .action(async (slug: string | undefined, flags: AdoptFlags, command: Command) => {
      if (flags.abandon) return abandon(slug, flags, command);
      if (flags.match !== undefined) {
        if (slug || flags.database)
          throw new UsageError('adopt: --match adopts many databases: leave out the slug and --database');
        if (flags.user || flags.name)
          throw new UsageError('adopt: --match takes --create-user, not --user or --name (those are for one database)');
        return adoptMany(flags, command);
      }
      if (flags.slugFrom || flags.dryRun) throw new UsageError('adopt: --slug-from and --dry-run go with --match');
      if (!slug) throw new UsageError('adopt: give the slug to adopt the database as, or --match <pattern>');
      const { adoptTenant } = await import('../../lifecycle/tenants/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const password = await tenantPassword(flags, out.json);
          const progress = out.steps();
          const result = await progress.track(
            adoptTenant(
              ctx,
              {
                slug,
                server: flags.server,
                database: flags.database,
                user: flags.user,
                password,
                createUser: flags.createUser,
                migrate: flags.migrate,
                name: flags.name,
                plan: flags.plan,
                metadata: flags.set,
              },
              (step) => progress.step(`${STEP_LABELS[step]}…`),
            ),
          );
          const { tenant } = result;
          out.result(result, () =>
            [
              `${out.color.green('✔')} Adopted ${out.color.bold(tenant.database)} as tenant ${out.color.bold(tenant.slug)}${result.resumed ? ' (resumed)' : ''} in ${(result.durationMs / 1000).toFixed(1)}s`,
              out.fields([
                ['server', tenant.server],
                ['database', tenant.database],
                ['user', `${tenant.user ?? '(server credentials)'}${result.createdUser ? ' (created)' : ''}`],
                [
                  'migrations',
                  `${result.applied.length} applied (${result.migrationsTable})${result.migrated.length ? `; ran ${result.migrated.join(', ')}` : ''}`,
                ],
                ['status', out.status(tenant.status)],
              ]),
            ].join('\n'),
          );
          return {
            detail: {
              server: tenant.server,
              database: tenant.database,
              createdUser: result.createdUser,
              resumed: result.resumed,
              applied: result.applied.length,
              migrated: result.migrated.length,
            },
          };
        },
        { command: 'adopt', tenant: slug },
      );
    });
}

async function abandon(slug: string | undefined, flags: AdoptFlags, command: Command): Promise<void> {
  if (!slug) throw new UsageError('adopt --abandon: give the slug of the unfinished adopt');
  const others = Object.entries(flags).filter(([key, value]) => key !== 'abandon' && value !== undefined);
  if (others.length) throw new UsageError(`adopt --abandon takes only the slug, not --${others[0]![0]}`);
  const { abandonAdoption } = await import('../../lifecycle/tenants/index.js');
  await withCommandContext(
    command,
    async (ctx, out) => {
      const result = await abandonAdoption(ctx, slug);
      out.result(result, () =>
        [
          `${out.color.green('✔')} Abandoned the adopt of ${out.color.bold(result.database)} as ${out.color.bold(slug)} on ${result.server}: the tenant is forgotten, the database ${result.databaseFound ? "kept as it was, without tenantctl's mark" : 'was not there'}`,
          ...(result.droppedUser ? [`  dropped database user ${result.droppedUser} (the adopt had made it)`] : []),
          ...(result.keptUser
            ? [
                `  ${out.color.yellow('!')} kept database user ${result.keptUser}, which the adopt made: it may own the database and its objects; give them back and drop it (README: adopt --abandon)`,
              ]
            : []),
        ].join('\n'),
      );
      return {
        detail: {
          server: result.server,
          database: result.database,
          keptUser: result.keptUser,
          droppedUser: result.droppedUser,
        },
      };
    },
    { command: 'adopt --abandon', tenant: slug },
  );
}

async function adoptMany(flags: AdoptFlags, command: Command): Promise<void> {
  const { adoptMatching } = await import('../../lifecycle/tenants/index.js');
  await withCommandContext(
    command,
    async (ctx, out) => {
      const progress = out.steps();
      const result = await progress.track(
        adoptMatching(
          ctx,
          {
            server: flags.server,
            match: flags.match!,
            slugFrom: flags.slugFrom,
            dryRun: flags.dryRun,
            createUser: flags.createUser,
            migrate: flags.migrate,
            plan: flags.plan,
            metadata: flags.set,
          },
          (database, slug) => progress.step(`Adopting ${database} as ${slug}…`),
        ),
      );
      out.result(result, () => {
        const lines = result.candidates.map((c) => {
          const failed = result.failed.find((f) => f.database === c.database);
          const mark = c.skipped
            ? out.color.dim('•')
            : failed
              ? out.color.red('✖')
              : result.dryRun
                ? out.color.dim('→')
                : out.color.green('✔');
          const said = c.skipped
            ? `skipped: ${c.skipped}`
            : failed
              ? `failed: ${failed.error}`
              : result.dryRun
                ? 'would be adopted'
                : 'adopted';
          return `${mark} ${c.database}${c.slug ? ` → ${c.slug}` : ''}  ${said}`;
        });
        const adoptable = result.candidates.filter((c) => !c.skipped).length;
        const summary = result.dryRun
          ? `${adoptable} of ${result.candidates.length} matching databases on ${result.server} would be adopted (dry run)`
          : `${result.adopted.length} adopted, ${result.failed.length} failed, ${result.candidates.length - adoptable} skipped on ${result.server}`;
        return [...lines, summary].join('\n');
      });
      return {
        outcome: result.dryRun || result.adopted.length === 0 ? 'noop' : 'ok',
        exitCode: result.failed.length ? ExitCode.failed : ExitCode.ok,
        detail: {
          match: flags.match,
          dryRun: result.dryRun,
          adopted: result.adopted.map((a) => a.tenant.slug),
          failed: result.failed.map((f) => f.slug),
        },
      };
    },
    flags.dryRun ? undefined : { command: 'adopt', tenant: null },
  );
}
