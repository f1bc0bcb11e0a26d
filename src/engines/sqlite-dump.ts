import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { openSqlite } from './sqlite-native.js';
import { ToolError } from './run-tool.js';

/**
 * SQLite's online backup API copies a consistent snapshot while the application keeps writing
 * (copying the file could catch it half-written); the snapshot is then gzipped into `output`.
 */
export async function sqliteDumpTo(file: string, output: Writable): Promise<void> {
  const snapshot = `${file}.backup-${process.pid}`;
  const db = openSqlite(file, { readonly: true, fileMustExist: true });
  try {
    await db.backup(snapshot);
  } finally {
    db.close();
  }
  try {
    await pipeline(createReadStream(snapshot), createGzip(), output);
  } finally {
    rmSync(snapshot, { force: true });
  }
}

/** Decompresses to a scratch file and runs SQLite's integrity check on it. */
export async function sqliteCheckDump(dumpFile: string, scratch: string): Promise<void> {
  try {
    await pipeline(createReadStream(dumpFile), createGunzip(), createWriteStream(scratch));
    const db = openSqlite(scratch, { readonly: true, fileMustExist: true });
    try {
      const result = db.pragma('integrity_check', { simple: true });
      if (result !== 'ok') throw new ToolError(`${dumpFile}: integrity check says ${String(result)}`);
    } catch (error) {
      if (error instanceof ToolError) throw error;
      throw new ToolError(`${dumpFile} is not a SQLite database: ${(error as Error).message}`);
    } finally {
      db.close();
    }
  } finally {
    rmSync(scratch, { force: true });
  }
}

/** Replaces a tenant's file with the backup's, via a temporary name. */
export async function sqliteRestoreFrom(dumpFile: string, target: string): Promise<void> {
  const temporary = `${target}.restoring`;
  await pipeline(createReadStream(dumpFile), createGunzip(), createWriteStream(temporary, { mode: 0o600 }));
  for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${target}${suffix}`, { force: true });
  renameSync(temporary, target);
}
