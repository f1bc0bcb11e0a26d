import { createReadStream, existsSync, readFileSync, renameSync, rmSync, createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isS3Url, storeOf } from '../../backup-store/index.js';
import type { Context } from '../../context/context.js';
import { readConfiguredKey } from '../../context/secret-key.js';
import { BackupIntegrityError, DecryptingStream } from '../../core/backup-cipher.js';
import { UsageError } from '../../core/errors.js';
import { HashingStream } from '../../core/hashing-stream.js';
import { decryptSecret, keyFingerprint, parseSecretKey } from '../../core/secrets.js';

export interface DecryptBackupInput {
  /** An encrypted backup: a file, or an `s3://bucket/key` location. */
  from: string;
  /** Where the plain dump goes (created, never overwritten; mode 0600). */
  out: string;
  /** A file holding the registry key the backup's data key is wrapped under; default the configured key. */
  keyFile?: string;
}

export interface DecryptBackupResult {
  from: string;
  out: string;
  bytes: number;
  /** Of the plain dump: the checksum a backup record of it holds. */
  sha256: string;
  /** The registry key it was opened with. */
  keyFingerprint: string;
}

/**
 * Decrypts an encrypted backup with a registry key alone, without the registry: the file's header
 * holds its data key wrapped under the key it was taken with (see src/core/backup-cipher.ts). The
 * plain dump is written under a temporary name and renamed only once every chunk authenticated, so
 * a changed or truncated backup leaves no output.
 */
export async function decryptBackup(ctx: Context, input: DecryptBackupInput): Promise<DecryptBackupResult> {
  const out = resolve(input.out);
  if (existsSync(out)) throw new UsageError(`${out} exists: give --out a new file`);
  const key = input.keyFile ? parseSecretKey(readFileSync(input.keyFile, 'utf8')) : readConfiguredKey(ctx.config);
  if (!key) throw new UsageError('no registry key: give --key-file <file> (or set secretKey / secretKeyFile)');
  const fingerprint = keyFingerprint(key);
  const source = isS3Url(input.from)
    ? await storeOf(ctx.config, input.from).read(input.from)
    : existsSync(input.from)
      ? createReadStream(input.from)
      : undefined;
  if (!source) throw new UsageError(`backup file ${input.from} does not exist`);
  const decrypting = new DecryptingStream((header) => {
    if (header.keyFingerprint !== fingerprint)
      throw new UsageError(
        `this backup's data key is wrapped under registry key ${header.keyFingerprint}, not ${fingerprint} (the key given): use that key, or restore the registry and read the backup through it (rotate-key re-wraps the registry's records, not the files)`,
      );
    try {
      return Buffer.from(decryptSecret(header.wrappedKey, key), 'base64');
    } catch {
      throw new BackupIntegrityError('encrypted backup: its data key does not open with the key given');
    }
  });
  const hashing = new HashingStream();
  const partial = `${out}.partial`;
  try {
    await pipeline(source, decrypting, hashing, createWriteStream(partial, { mode: 0o600, flags: 'wx' }));
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
  renameSync(partial, out);
  return { from: input.from, out, bytes: hashing.bytes, sha256: hashing.digest(), keyFingerprint: fingerprint };
}
