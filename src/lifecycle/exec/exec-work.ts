import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Knex } from 'knex';
import { ConflictError, UsageError, errorMessage } from '../../core/errors.js';
import type { EngineDriver } from '../../engines/engine-driver.js';
import { importUserModule } from '../../tenant-schema/load-module.js';
import type { ExecTenantInfo, ExecWorkSpec } from './exec-types.js';
import { isDdl, splitStatements } from './sql-statements.js';

/** The script's default export. */
type ExecScript = (knex: Knex.Transaction, tenant: ExecTenantInfo) => Promise<unknown>;

/** What one tenant's transaction did. */
export interface WorkDone {
  rowsChanged?: number;
  statements?: number;
}

/** The work of an exec run, read and checked once before any tenant: what each tenant's transaction runs. */
export interface ExecWork {
  kind: 'sql' | 'script';
  /** The file, absolute. */
  file: string;
  sha256: string;
  /** SQL file: its statements. */
  statements?: string[];
  /** SQL file: it holds DDL (MySQL commits that on its own). */
  ddl: boolean;
  /** Runs the work in `trx` as the tenant. */
  run(trx: Knex.Transaction, driver: EngineDriver, tenant: ExecTenantInfo): Promise<WorkDone>;
}

/**
 * Reads `--sql-file` or `--script` (exactly one), with the file's sha256; a script is imported
 * here, so a module that does not load, or has no default function, fails before any tenant.
 * `expectedSha256` (a resumed run's) refuses a file that changed since the run began.
 */
export async function loadExecWork(spec: ExecWorkSpec, expectedSha256?: string): Promise<ExecWork> {
  if (Boolean(spec.sqlFile) === Boolean(spec.script))
    throw new UsageError('exec: give exactly one of --sql-file <file> or --script <module>');
  const file = resolve((spec.sqlFile ?? spec.script)!);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new UsageError(`${spec.sqlFile ? '--sql-file' : '--script'} ${file}: ${errorMessage(error)}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (expectedSha256 !== undefined && sha256 !== expectedSha256)
    throw new ConflictError(
      `${file} changed since the run began (sha256 ${sha256.slice(0, 12)}…, the run's ${expectedSha256.slice(0, 12)}…): a resumed run runs the same file`,
    );
  if (spec.sqlFile) {
    const statements = splitStatements(bytes.toString('utf8'));
    return {
      kind: 'sql',
      file,
      sha256,
      statements,
      ddl: statements.some(isDdl),
      async run(trx, driver) {
        let rowsChanged: number | undefined;
        for (const statement of statements) {
          const changed = driver.changedRows(await trx.raw(statement));
          if (changed !== undefined) rowsChanged = (rowsChanged ?? 0) + changed;
        }
        return { statements: statements.length, ...(rowsChanged === undefined ? {} : { rowsChanged }) };
      },
    };
  }
  const script = await loadScript(file);
  return {
    kind: 'script',
    file,
    sha256,
    ddl: false,
    async run(trx, _driver, tenant) {
      await script(trx, tenant);
      return {};
    },
  };
}

async function loadScript(file: string): Promise<ExecScript> {
  let loaded: { default?: unknown };
  try {
    loaded = await importUserModule<{ default?: unknown }>(file);
  } catch (error) {
    throw new UsageError(`--script ${file}: ${errorMessage(error)}`);
  }
  if (typeof loaded.default !== 'function')
    throw new UsageError(`--script ${file}: expected "export default async function (knex, tenant)"`);
  return loaded.default as ExecScript;
}
