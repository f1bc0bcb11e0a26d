import { randomBytes } from 'node:crypto';
import type { Context } from '../../context/context.js';
import { BackupIntegrityError, type CipherHeader } from '../../core/backup-cipher.js';
import { errorMessage } from '../../core/errors.js';
import { encryptSecret, keyFingerprint } from '../../core/secrets.js';
import type { BackupRow } from '../../registry/backups-repo.js';

/** A fresh backup's data key, wrapped under the registry's current key. */
export interface DataKey {
  key: Buffer;
  wrapped: string;
  /** Fingerprint of the registry key it is wrapped under (written in the file's header). */
  fingerprint: string;
}

/**
 * A new data key for one backup, wrapped under the registry's current key and handed to `record`
 * (which writes the backup's record) while a key rotation cannot switch keys: the wrapped key
 * lands in the registry under the key the rotation re-wraps from.
 */
export async function withNewDataKey<T>(ctx: Context, record: (dataKey: DataKey) => Promise<T>): Promise<T> {
  const key = randomBytes(32);
  return ctx.withSecretWrites((registryKey) =>
    record({
      key,
      wrapped: encryptSecret(key.toString('base64'), registryKey),
      fingerprint: keyFingerprint(registryKey),
    }),
  );
}

/**
 * Unwraps an encrypted backup's data key: the record's (re-wrapped by every rotate-key), else the
 * one in the file's header (under the key the backup was taken with, which the ring may still hold).
 */
export function dataKeyOf(ctx: Context, row: Pick<BackupRow, 'data_key_enc'>) {
  return async (header: CipherHeader): Promise<Buffer> => {
    const candidates = [row.data_key_enc, header.wrappedKey].filter((w): w is string => Boolean(w));
    let failure: unknown;
    for (const wrapped of candidates) {
      try {
        const key = Buffer.from(await ctx.decrypt(wrapped), 'base64');
        if (key.length === 32) return key;
      } catch (error) {
        failure = error;
      }
    }
    throw new BackupIntegrityError(
      `encrypted backup: its data key opens with none of the registry's keys (wrapped under key ${header.keyFingerprint})${failure ? `: ${errorMessage(failure)}` : ''}`,
    );
  };
}
