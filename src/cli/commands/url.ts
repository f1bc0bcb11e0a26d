import { chmodSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { withCommandContext } from '../action.js';

interface UrlFlags {
  showPassword?: boolean;
  format: string;
  envName: string;
  output?: string;
}

/** An environment variable name a shell and an env file both take. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function registerUrl(program: Command): void {
  program
    .command('url')
    .description("print a tenant database's connection URL for any client (Prisma, Sequelize, SQLAlchemy, psql…)")
    .argument('<slug>', 'the tenant slug')
    .option('--show-password', "include the tenant user's password (left out by default)")
    .option('--format <format>', 'url (the URL alone) or env (NAME=URL, for an env file)', 'url')
    .option('--env-name <name>', 'the variable name of --format env', 'DATABASE_URL')
    .option('--output <file>', 'write to this file (created 0600) instead of stdout')
    .action(async (slug: string, flags: UrlFlags, command: Command) => {
      if (flags.format !== 'url' && flags.format !== 'env')
        throw new UsageError(`--format must be url or env (got "${flags.format}")`);
      if (!ENV_NAME.test(flags.envName))
        throw new UsageError(`--env-name must be a variable name (letters, digits, _), got "${flags.envName}"`);
      const { tenantUrl } = await import('../../lifecycle/tenants/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const result = await tenantUrl(ctx, slug, { revealPassword: flags.showPassword });
        const text = flags.format === 'env' ? `${flags.envName}=${result.url}` : result.url;
        if (flags.output) {
          // 0600 from the start (and kept so when the file was there): it may hold a password.
          writeFileSync(flags.output, `${text}\n`, { mode: 0o600 });
          chmodSync(flags.output, 0o600);
          out.result({ ...result, output: flags.output }, () => `wrote ${flags.output} (0600)`);
          return;
        }
        if (flags.showPassword && process.stdout.isTTY)
          out.warn('tenantctl: the password is on your screen (and in your terminal scrollback)');
        out.result(result, () => text);
      });
    });
}
