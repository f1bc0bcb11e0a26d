import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { LockedError, RegistryKeyError, UsageError } from '../core/errors.js';
import { generateSecretKey, keyFingerprint, parseSecretKey } from '../core/secrets.js';
import type { Config } from '../config/config-keys.js';
import { getSetting, putSetting, type Registry } from '../registry/registry.js';
import { finishKeyFileSwap } from './rotated-key-file.js';

export interface LoadedKey {
  key: Buffer;
  /** Set when this call generated the key file, so the CLI can say so. */
  generatedFile?: string;
}

/**
 * The key from `secretKey`, else from `secretKeyFile`. With neither, an embedded (SQLite)
 * registry gets a new key file (mode 0600); a shared registry refuses, because a key made on one
 * machine would leave every other machine unable to read its secrets.
 */
export async function loadSecretKey(
  config: Config,
  registry: Registry,
  options: { readOnly?: boolean } = {},
): Promise<LoadedKey> {
  let loaded: LoadedKey;
  const configured =
    config.secretKey || options.readOnly ? undefined : await finishKeyFileSwap(config.secretKeyFile, registry);
  if (configured || config.secretKey || existsSync(config.secretKeyFile)) {
    loaded = { key: configured ?? readConfiguredKey(config)! };
  } else if (registry.driver.embedded && !options.readOnly) {
    const key = generateSecretKey();
    mkdirSync(dirname(config.secretKeyFile), { recursive: true, mode: 0o700 });
    // Written whole under a private name, then linked into place: link() fails if the file
    // exists, so a key another process wrote a moment ago is never overwritten nor read half-written.
    const temporary = `${config.secretKeyFile}.${process.pid}.tmp`;
    writeFileSync(temporary, `${key.toString('hex')}\n`, { mode: 0o600 });
    try {
      linkSync(temporary, config.secretKeyFile);
      loaded = { key, generatedFile: config.secretKeyFile };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      loaded = { key: parseSecretKey(readFileSync(config.secretKeyFile, 'utf8')) };
    } finally {
      rmSync(temporary, { force: true });
    }
  } else {
    throw new UsageError(
      options.readOnly
        ? 'no secret key: a read-only fleet needs secretKey or an existing secretKeyFile'
        : 'no secret key: set TENANTCTL_SECRET_KEY (32 bytes, hex or base64) for a shared registry',
    );
  }
  await checkFingerprint(registry, loaded.key, options.readOnly);
  return loaded;
}

/** The configured key (`secretKey`, else the key file), or undefined when there is none yet. */
export function readConfiguredKey(config: Config): Buffer | undefined {
  if (config.secretKey) return parseSecretKey(config.secretKey);
  if (existsSync(config.secretKeyFile)) return parseSecretKey(readFileSync(config.secretKeyFile, 'utf8'));
  return undefined;
}

/** The registry remembers a fingerprint of its key, so a wrong key fails before it writes. */
async function checkFingerprint(registry: Registry, key: Buffer, readOnly = false): Promise<void> {
  const fingerprint = keyFingerprint(key);
  let stored = await getSetting(registry.knex, 'secret_key_fingerprint');
  if (stored === undefined && readOnly) return;
  if (stored === undefined) {
    // Two first runs at once: the second insert fails, and what the first stored decides.
    await putSetting(registry.knex, 'secret_key_fingerprint', fingerprint).catch(() => undefined);
    stored = await getSetting(registry.knex, 'secret_key_fingerprint');
  }
  if (stored !== fingerprint) {
    throw new UsageError(
      'the secret key is not the one this registry was set up with, or it was rotated away (TENANTCTL_SECRET_KEY / secretKeyFile)',
    );
  }
}

/** The registry lock every secret write and the end of a key rotation take (see withSecretWrites). */
const SECRET_WRITES_LOCK = 'tenantctl:secret-writes';

/**
 * Runs `fn`, which encrypts secrets with the key it is given and writes them, so that no write
 * lands under a key the registry has just rotated away: `rotate-key` switches keys holding the
 * same lock, and `fn` runs only with the registry's current key, looked up under it (`keyFor`). A
 * command that holds only the old key after a rotation finished is refused (exit 2) and writes
 * nothing. The lock is held only for the check and the write, never across slow work.
 */
export async function withSecretWrites<T>(
  registry: Registry,
  keyFor: (fingerprint: string | undefined) => Buffer | undefined,
  fn: (key: Buffer) => Promise<T>,
): Promise<T> {
  const lock = await registry.tryLock(SECRET_WRITES_LOCK, 30_000);
  if (!lock)
    throw new LockedError('another tenantctl has been writing secrets or rotating the key for 30 s; try again');
  try {
    const current = await getSetting(registry.knex, 'secret_key_fingerprint');
    const key = keyFor(current);
    if (!key) {
      throw new RegistryKeyError(
        'the secret key was rotated while this command ran: nothing was written; run it again with the new key',
      );
    }
    return await fn(key);
  } finally {
    await lock.release();
  }
}
