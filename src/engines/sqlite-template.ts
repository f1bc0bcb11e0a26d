import { chmodSync, constants, copyFileSync, rmSync } from 'node:fs';
import type { SchemaTemplates } from './engine-driver.js';
import { openSqlite } from './sqlite-native.js';

/**
 * SQLite's templates: a template is a file in the server's directory like a tenant's; sealed, its
 * WAL is folded into it and it is made read-only, so a clone is a copy of that one file (a
 * copy-on-write clone where the file system has them). There are no users to give it to.
 */
export class SqliteTemplates implements SchemaTemplates {
  constructor(private readonly fileFor: (database: string) => string) {}

  async sealTemplate(database: string): Promise<void> {
    const file = this.fileFor(database);
    const db = openSqlite(file, { fileMustExist: true });
    try {
      // Everything in the main file, nothing in a -wal beside it: the file alone is the template.
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    chmodSync(file, 0o444);
  }

  async cloneDatabase(template: string, database: string): Promise<void> {
    const file = this.fileFor(database);
    copyFileSync(this.fileFor(template), file, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
    // As SQLite makes a new file (0644 less the umask), not the template's read-only mode.
    chmodSync(file, 0o644 & ~process.umask());
  }

  async finishClone(): Promise<void> {}

  async dropTemplate(database: string): Promise<void> {
    const file = this.fileFor(database);
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
  }
}
