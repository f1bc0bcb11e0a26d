import type { Command } from 'commander';
import { withCommandContext } from '../action.js';
import { collectKeyJson, collectKeyValue, mergedMetadata } from '../options.js';
import { describeKnex } from '../render/knex-used.js';
import { tenantDocument } from '../render/json-document.js';
import { seedValueLines, shownSeedValues } from '../render/seed-values.js';

interface CreateOptions {
  name?: string;
  plan?: string;
  set?: Record<string, string>;
  setJson?: Record<string, unknown>;
  seed: boolean;
  replay?: boolean;
  server?: string;
  serverLabel?: Record<string, string>;
  showSecrets?: boolean;
}

const STEP_LABELS = {
  cleanup: 'Cleaning up an earlier attempt',
  database: 'Creating database',
  user: 'Creating database user',
  setup: 'Running the admin setup',
  clone: 'Giving the template copy to the tenant',
  migrations: 'Running migrations',
  seeds: 'Running seeds',
  restore: 'Restoring the backup',
} as const;

export function registerCreate(program: Command): void {
  program
    .command('create')
    .description('create a tenant: database, user, migrations, seeds; undone on failure')
    .argument('<slug>', 'the tenant slug: lower-case letters, digits, "-" and "_", starting with a letter')
    .option('--name <name>', 'display name (default: the slug)')
    .option('--plan <plan>', 'plan name, free text')
    .option('--set <key=value>', 'metadata entry, repeatable', collectKeyValue)
    .option(
      '--set-json <key=json>',
      'metadata entry with a JSON value (number, boolean, list, object); repeatable',
      collectKeyJson,
    )
    .option('--no-seed', 'skip the seeds')
    .option('--replay', "run every migration instead of copying the server's schema template")
    .option('--show-secrets', 'show what the seeds returned (masked by default)')
    .option('--server <name>', 'create it on this registered server (default: tenantctl chooses)')
    .option('--server-label <key=value>', 'choose only among servers with this label, repeatable', collectKeyValue)
    .action(async (slug: string, options: CreateOptions, command: Command) => {
      const metadata = mergedMetadata(options.set, options.setJson);
      const { createTenant } = await import('../../lifecycle/tenants/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const progress = out.steps();
          const result = await progress.track(
            createTenant(
              ctx,
              {
                slug,
                name: options.name,
                plan: options.plan,
                metadata,
                seed: options.seed,
                server: options.server,
                serverLabels: options.serverLabel,
                replay: options.replay,
              },
              ({ step, phase }) => {
                if (phase === 'start') progress.step(`${STEP_LABELS[step]}…`);
              },
            ),
          );
          const { tenant } = result;
          const seedValues = shownSeedValues(result.seedValues, Boolean(options.showSecrets));
          out.result(tenantDocument({ ...result, seedValues }), () =>
            [
              `${out.color.green('✔')} Created tenant ${out.color.bold(tenant.slug)}${result.retried ? ' (retried)' : ''} in ${(result.durationMs / 1000).toFixed(1)}s`,
              out.fields([
                ['server', `${tenant.server} (${result.serverVersion})`],
                ['placement', result.placement],
                ['database', tenant.database],
                ['user', tenant.user ?? '(server credentials)'],
                [
                  'migrations',
                  result.migrations.length
                    ? result.migrations.join(', ')
                    : `none${result.migrationsNote ? out.color.dim(` · ${result.migrationsNote}`) : ''}`,
                ],
                [
                  'template',
                  result.template
                    ? `${result.template.database}${result.template.built ? ' (built now)' : ''}`
                    : `none${result.templateNote ? out.color.dim(` · ${result.templateNote}`) : ''}`,
                ],
                ['seeds', result.seeds.length ? result.seeds.join(', ') : 'none'],
                ...seedValueLines(seedValues).map((line) => ['seed returned', line] as [string, string]),
                ['knex', describeKnex(out, result.knex)],
                ['knexfile', result.knexfile ?? 'none'],
                ...(result.adminSetup ? [['admin setup', result.adminSetup] as [string, string]] : []),
                ['status', out.status(tenant.status)],
              ]),
            ].join('\n'),
          );
          return {
            detail: {
              retried: result.retried,
              server: tenant.server,
              placement: result.placement,
              migrations: result.migrations.length,
            },
          };
        },
        { command: 'create', tenant: slug },
      );
    });
}
