import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { UsageError } from '../core/errors.js';
import { importUserModule, isLoadableFile } from './load-module.js';

/**
 * Knex migrations from one directory, listed once per run and loaded through
 * importUserModule (CommonJS, ES modules and TypeScript alike). Names are the file names, as
 * the knex CLI stores them, so databases migrated by either tool agree.
 */
export class DirectoryMigrationSource implements Knex.MigrationSource<string> {
  private files?: string[];

  /** `extensions`: the knexfile's `migrations.loadExtensions` (e.g. `['.js']`), else every loadable file. */
  constructor(
    readonly directory: string,
    private readonly extensions?: readonly string[],
  ) {}

  /** Migration names in order; an absent directory means "no migrations". */
  list(): string[] {
    this.files ??= existsSync(this.directory)
      ? readdirSync(this.directory)
          .filter((name) => isLoadableFile(name, this.extensions))
          .sort()
      : [];
    return this.files;
  }

  async getMigrations(): Promise<string[]> {
    return this.list();
  }

  getMigrationName(file: string): string {
    return file;
  }

  async getMigration(file: string): Promise<Knex.Migration> {
    const migration = await importUserModule<Partial<Knex.Migration>>(join(this.directory, file));
    if (typeof migration.up !== 'function') throw new UsageError(`migration ${file} exports no up() function`);
    return migration as Knex.Migration;
  }
}
