import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline as pipe, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { storeOf } from '../../backup-store/index.js';
import type { Context } from '../../context/context.js';
import { DecryptingStream } from '../../core/backup-cipher.js';
import { NotFoundError, errorMessage } from '../../core/errors.js';
import { HashingStream } from '../../core/hashing-stream.js';
import { sink } from '../../engines/dump-checks.js';
import type { BackupRow } from '../../registry/backups-repo.js';
import { dataKeyOf } from './backup-keys.js';

/** A backup's plain dump as a file the engine's tools read; `release()` removes a scratch copy. */
export interface PlainBackup {
  file: string;
  bytes: number;
  sha256: string;
  release(): void;
}

/** The backup's bytes as the dump tool wrote them: read from its store, decrypted if it is encrypted. */
export async function readPlainBackup(ctx: Context, row: BackupRow): Promise<Readable> {
  const stored = await storeOf(ctx.config, row.file).read(row.file);
  if (!row.data_key_enc) return stored;
  // An error of either side fails the stream returned (pipe destroys every stream with it).
  return pipe(stored, new DecryptingStream(dataKeyOf(ctx, row)), () => undefined);
}

/** Whether a backup can be read in place (a plain file on this disk) rather than through a scratch copy. */
const inPlace = (ctx: Context, row: BackupRow) => !row.data_key_enc && storeOf(ctx.config, row.file).kind === 'local';

/**
 * Reads a backup whole from its store, decrypting and checksumming it on the way; returns the
 * plain dump as a file the engine's tools can read, or what is wrong with it. A local plain backup
 * is read in place; any other is written to a scratch copy (a private 0700 directory, removed by
 * `release()`), so the tools see it only once every byte was authenticated and matched the
 * recorded checksum: a changed or truncated backup is refused before anything is restored.
 */
export async function plainBackup(ctx: Context, row: BackupRow): Promise<PlainBackup | string> {
  const hashing = new HashingStream();
  let scratch: string | undefined;
  const release = () => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  };
  let file = row.file;
  try {
    const source = await readPlainBackup(ctx, row);
    if (inPlace(ctx, row)) {
      await pipeline(source, hashing, sink());
    } else {
      scratch = mkdtempSync(join(tmpdir(), 'tenantctl-backup-'));
      file = join(scratch, basename(row.file));
      await pipeline(source, hashing, createWriteStream(file, { mode: 0o600 }));
    }
  } catch (error) {
    release();
    if (error instanceof NotFoundError) return 'file is missing';
    return `unreadable: ${errorMessage(error)}`;
  }
  const sha256 = hashing.digest();
  if (row.sha256 && sha256 !== row.sha256) {
    release();
    return `checksum mismatch: the file changed since it was written (${hashing.bytes} bytes, ${row.bytes} recorded)`;
  }
  return { file, bytes: hashing.bytes, sha256, release };
}
