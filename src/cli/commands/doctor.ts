import type { Command } from 'commander';
import { AGE, parseDuration } from '../../core/duration.js';
import { ExitCode, UsageError } from '../../core/errors.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import type { RunInterrupt } from '../../core/run-interrupt.js';
import type { DoctorResult, Finding, TenantHealth } from '../../lifecycle/doctor/index.js';
import type { Output } from '../output.js';
import { PER_SERVER_HELP } from '../options.js';

/** A doctor result as the CLI reports it: each finding with the command that fixes it. */
type ReportedResult = Omit<DoctorResult, 'findings'> & { findings: Array<Finding & { fix: string }> };

/** An age flag in hours: `36h`, `2d`, `90m`; a bare number is hours. */
function ageHours(value: string, flag: string): number {
  return parseDuration(value, flag, AGE) / 3_600_000;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'compare the registry with the servers and this machine; report every problem with the command that fixes it',
    )
    .argument(
      '[slug]',
      "one tenant's health only: reachable, database, login, migrations, backup, lock, interrupted steps",
    )
    .option(
      '--fix',
      'repair what is safe unattended: finish interrupted creates and deletes, re-lock suspended users, clear killed backups',
    )
    .option(
      '--drop-orphans',
      'with --fix: also drop databases and users that follow the naming template but belong to no tenant (asks first)',
    )
    .option('-y, --yes', 'with --drop-orphans: do not ask (required without a terminal)')
    .option('--per-server <n>', PER_SERVER_HELP)
    .option(
      '--backup-max-age <age>',
      'a tenant whose last backup is older, or older itself and never backed up, is a problem (default 1d)',
    )
    .option('--strict', 'exit 1 for notices too (pending migrations, a first backup not yet due)')
    .option('--password-max-age <age>', 'a tenant password not changed for longer is a finding (default 365d)')
    .option(
      '--schema-drift',
      "also read every tenant's structure: a schema_drift notice per variant that is not the expected one",
    )
    .action(
      async (
        slug: string | undefined,
        flags: {
          fix?: boolean;
          dropOrphans?: boolean;
          yes?: boolean;
          backupMaxAge?: string;
          strict?: boolean;
          passwordMaxAge?: string;
          schemaDrift?: boolean;
        },
        command: Command,
      ) => {
        if (flags.dropOrphans && !flags.fix) throw new UsageError('--drop-orphans goes with --fix');
        if (flags.dropOrphans && slug)
          throw new UsageError('--drop-orphans is for the whole fleet: orphans belong to no tenant');
        const backupMaxAgeHours = ageHours(flags.backupMaxAge ?? '1d', '--backup-max-age');
        const passwordMaxAgeHours = ageHours(flags.passwordMaxAge ?? '365d', '--password-max-age');
        const { examineFleet, concludeExamination } = await import('../../lifecycle/doctor/index.js');
        const { withFixCommands } = await import('../render/doctor-fixes.js');
        await withCommandContext(
          command,
          async (ctx, out) => {
            // Both phases under the signals, as the one run was: the first stops the examination, and
            // during repairs it does not end the process half-way through one.
            const underSpinner = <T>(work: (interrupt: RunInterrupt) => Promise<T>): Promise<T> => {
              const spinner = out.spinner(slug ? `Examining ${slug}…` : 'Examining the fleet…');
              return interruptible((message) => out.warn(message), work, 'checks').finally(() => spinner.stop());
            };
            // One examination: the orphans asked about are those it found, and those dropped.
            const examination = await underSpinner((interrupt) =>
              examineFleet(ctx, {
                backupMaxAgeHours,
                passwordMaxAgeHours,
                interrupt,
                schemaDrift: flags.schemaDrift,
                ...(slug ? { tenant: slug } : {}),
              }),
            );
            let dropOrphans = false;
            const orphans = examination.findings.filter((f) => f.kind.startsWith('orphan_'));
            if (flags.dropOrphans && !examination.interrupted && orphans.length)
              dropOrphans =
                flags.yes ||
                (await confirmDrop(
                  orphans.map((o) => o.message),
                  out.json,
                ));
            const result = withFixCommands(
              await underSpinner(() =>
                concludeExamination(ctx, examination, { fix: flags.fix, dropOrphans, strict: flags.strict }),
              ),
            );
            out.result(result, () =>
              [
                ...(result.health ? [healthText(out, result.health)] : []),
                doctorText(out, result, Boolean(flags.fix)),
              ].join('\n'),
            );
            return {
              outcome: flags.fix ? 'ok' : 'noop',
              detail: { findings: result.findings.length, fixed: result.fixed },
              exitCode: result.interrupted ? ExitCode.interrupted : result.ok ? ExitCode.ok : ExitCode.failed,
            };
          },
          flags.fix ? { command: 'doctor --fix', tenant: slug ?? null } : undefined,
        );
      },
    );
}

/** `doctor <slug>`: one line per check, before the findings. */
function healthText(out: Output, health: TenantHealth): string {
  const mark = (status: string) =>
    status === 'ok'
      ? out.color.green('ok')
      : status === 'problem'
        ? out.color.red(status)
        : status === 'notice'
          ? out.color.yellow(status)
          : out.color.dim(status);
  return [
    `${health.slug} (${health.status}) on ${health.server ?? 'unknown server'}`,
    out.table(
      ['check', 'status', 'detail'],
      health.checks.map((c) => [c.check, mark(c.status), c.detail]),
    ),
  ].join('\n');
}

/** The human report: every finding with its fix (or whether --fix repaired it), then the counts. */
function doctorText(out: Output, result: ReportedResult, fix: boolean): string {
  if (result.findings.length === 0 && !result.interrupted) return `${out.color.green('✔')} All is well.`;
  const lines = [
    out.table(
      ['finding', 'severity', 'tenant', 'server', 'detail', fix ? 'fixed' : 'fix'],
      result.findings.map((f) => [
        f.kind,
        f.severity === 'problem'
          ? out.color.red(f.severity)
          : f.severity === 'notice'
            ? out.color.yellow(f.severity)
            : f.severity,
        f.tenant,
        f.server,
        f.message,
        fix ? (f.fixed ? out.color.green('yes') : f.fixError ? out.color.red(`no: ${f.fixError}`) : f.fix) : f.fix,
      ]),
    ),
  ];
  for (const f of result.findings.filter((finding) => finding.backup))
    lines.push(`backed up before it was dropped: ${f.backup}`);
  if (result.interrupted)
    lines.push(out.color.yellow(`Interrupted (${result.interrupted}): the findings so far; nothing repaired`));
  lines.push(
    `${result.ok ? out.color.green('✔') : out.color.red('✖')} ${result.problems} problems, ${result.notices} notices${fix ? `, ${result.fixed} fixed` : ''}`,
  );
  return lines.join('\n');
}

async function confirmDrop(messages: string[], json: boolean): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY || json) {
    throw new UsageError('refusing to drop orphans without confirmation: no terminal to ask at; pass --yes');
  }
  const { confirm } = await import('@inquirer/prompts');
  process.stderr.write(`${messages.join('\n')}\n`);
  return confirm(
    { message: `Drop these ${messages.length} databases/users? Their data is lost.`, default: false },
    { output: process.stderr },
  );
}
