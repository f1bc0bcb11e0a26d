import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isS3Url, storeOf } from '../../backup-store/index.js';
import type { Context } from '../../context/context.js';
import { isEncryptedBackup } from '../../core/backup-cipher.js';
import { NotFoundError } from '../../core/errors.js';
import { decryptBackup } from '../backups/decrypt-backup.js';

/** A registry backup as a plain dump on this disk, for the registry's own restore tool. */
export interface RegistryBackupFile {
  /** The plain dump to restore. */
  file: string;
  /** Removes a scratch copy (nothing for a local file read in place). */
  release(): void;
}

/**
 * The registry backup `--from` names: a local file is read in place; an `s3://bucket/key` object
 * is brought down to a scratch copy (a private 0700 directory) and, when encrypted (the default
 * for an S3 store), decrypted there with the configured registry key alone: the registry that
 * holds the backup's record, and its wrapped data key, may be the one that was lost. The file's
 * header has the data key wrapped under the key it was taken with, and decryption authenticates
 * every chunk before the plain copy exists, so a changed or truncated backup restores nothing.
 */
export async function registryBackupFile(ctx: Context, from: string): Promise<RegistryBackupFile> {
  if (!isS3Url(from)) {
    if (!existsSync(from)) throw new NotFoundError(`no such file: ${from}`);
    return { file: from, release: () => undefined };
  }
  const scratch = mkdtempSync(join(tmpdir(), 'tenantctl-registry-'));
  const release = () => rmSync(scratch, { recursive: true, force: true });
  try {
    const stored = join(scratch, 'stored');
    await pipeline(await storeOf(ctx.config, from).read(from), createWriteStream(stored, { mode: 0o600 }));
    if (!(await startsEncrypted(stored))) return { file: stored, release };
    const plain = join(scratch, 'plain');
    await decryptBackup(ctx, { from: stored, out: plain });
    rmSync(stored);
    return { file: plain, release };
  } catch (error) {
    release();
    throw error;
  }
}

async function startsEncrypted(file: string): Promise<boolean> {
  const start: Buffer[] = [];
  for await (const chunk of createReadStream(file, { start: 0, end: 15 })) start.push(chunk as Buffer);
  return isEncryptedBackup(Buffer.concat(start));
}
