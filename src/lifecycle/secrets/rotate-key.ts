import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Knex } from 'knex';
import type { Context } from '../../context/context.js';
import type { OperationHooks } from '../../context/operation-hooks.js';
import { finishKeyFileSwap, nextKeyFile } from '../../context/rotated-key-file.js';
import { LockedError, UsageError } from '../../core/errors.js';
import { decryptSecret, encryptSecret, generateSecretKey, keyFingerprint, parseSecretKey } from '../../core/secrets.js';
import { deleteSetting, getSetting, putSetting } from '../../registry/registry.js';
import {
  SECRET_TABLES,
  secretRowFingerprints,
  secretRowsNotUnder,
  updateSecretRowIfUnchanged,
  type SecretTable,
} from '../../registry/secrets-repo.js';

const CURRENT = 'secret_key_fingerprint';
/** Set while a rotation is under way: the fingerprint of the key it rotates to. */
const ROTATING_TO = 'secret_key_rotating_to';

export interface RotateKeyOptions {
  /** The new key (from `--new-key-file`). */
  newKey?: Buffer;
  /**
   * Generate the new key (embedded registry, key in `secretKeyFile`): it is kept in
   * `<secretKeyFile>.next` during the rotation and replaces the key file at the end.
   */
  generate?: boolean;
}

export interface RotateKeyResult {
  /** False when there was nothing left to do (the rotation had already finished). */
  changed: boolean;
  /** Fingerprints of the old and the new key; never the keys. */
  from: string | null;
  to: string;
  /** Whether this run finished a rotation an earlier, interrupted run started. */
  resumed: boolean;
  /** Secrets re-encrypted by this run. */
  tenants: number;
  servers: number;
  /** Target passwords of moves under way or kept. */
  moves: number;
  /** Data keys of encrypted backups, re-wrapped under the new key (the backups themselves are not rewritten). */
  backups: number;
  /** With `generate`: the key file that now holds the new key. */
  keyFile?: string;
  message: string;
}

/**
 * Re-encrypts every stored secret under a new key, crash-safely: the new key's fingerprint is
 * recorded first, then each row is re-encrypted and marked with that fingerprint in one update,
 * so a kill at any point leaves each secret readable with the old or the new key, and running it
 * again carries on. Only then does the registry's fingerprint become the new one (and, with
 * `generate`, the new key file replace the old): from then on the old key is refused.
 */
export async function rotateKey(ctx: Context, options: RotateKeyOptions): Promise<RotateKeyResult> {
  if (!options.newKey === !options.generate)
    throw new UsageError('rotate-key: give --new-key-file <file> or --generate (one of them)');
  const registry = await ctx.registry();
  const keyFile = ctx.config.secretKeyFile;
  if (options.generate && ctx.config.secretKey) {
    throw new UsageError(
      'rotate-key --generate writes a key file, but the key comes from TENANTCTL_SECRET_KEY: use --new-key-file, then set the variable to the new key',
    );
  }
  if (options.generate && !registry.driver.embedded) {
    throw new UsageError(
      'rotate-key --generate is for the embedded registry; a shared registry needs a key every machine gets: --new-key-file',
    );
  }
  const lock = await registry.tryLock('tenantctl:rotate-key', 0);
  if (!lock) throw new LockedError('another tenantctl is rotating the secret key right now');
  try {
    const knex = registry.knex;
    const rotatingTo = await getSetting(knex, ROTATING_TO);
    if (options.generate) {
      const installed = await finishKeyFileSwap(keyFile, registry);
      if (installed) return await finished(knex, keyFingerprint(installed), keyFile);
    } else {
      const stored = await getSetting(knex, CURRENT);
      if (stored === keyFingerprint(options.newKey!)) return await finished(knex, stored);
    }

    // Checks the configured (old) key against the registry: a wrong one is refused (exit 2).
    const oldKey = (await ctx.secretKey()).key;
    const from = keyFingerprint(oldKey);
    const newKey = options.newKey ?? nextGeneratedKey(keyFile, rotatingTo);
    const to = keyFingerprint(newKey);
    if (to === from) throw new UsageError('the new key is the key already in use');
    if (rotatingTo && rotatingTo !== to) {
      throw new UsageError(
        `an interrupted rotation to key ${rotatingTo} must be finished first: run rotate-key again with that key`,
      );
    }
    await putSetting(knex, ROTATING_TO, to);

    const counts = { tenants: 0, servers: 0, moves: 0, backups: 0 };
    /** Passes until every secret is under the new key; rows written meanwhile get another pass. */
    const reencryptAll = async () => {
      for (let pass = 0; ; pass++) {
        let left = 0;
        for (const table of SECRET_TABLES) {
          const done = await reencryptTable(knex, table, { oldKey, from, newKey, to }, ctx.hooks);
          left += done.left;
          counts[table.owner] += done.reencrypted;
        }
        if (left === 0) return;
        // Other commands keep writing secrets: nothing is wrong but the timing, so it is worth trying again (exit 6).
        if (pass >= 20) throw new LockedError('secrets keep changing while the key is rotated: run rotate-key again');
      }
    };
    await reencryptAll();
    // The switch, with secret writes held off: a last pass for anything written since, then the
    // new fingerprint. A command still holding the old key is refused from here on, never writes.
    await ctx.withSecretWrites(async () => {
      await reencryptAll();
      await putSetting(knex, CURRENT, to);
      await deleteSetting(knex, ROTATING_TO);
    });
    if (options.generate) renameSync(nextKeyFile(keyFile), keyFile);
    const resumed = rotatingTo !== undefined;
    return {
      changed: true,
      from,
      to,
      resumed,
      ...counts,
      keyFile: options.generate ? keyFile : undefined,
      message: `${resumed ? 'finished rotating' : 'rotated'} the secret key ${from} → ${to}: ${counts.tenants} tenant, ${counts.servers} server and ${counts.moves} move secrets re-encrypted, ${counts.backups} backup keys re-wrapped`,
    };
  } finally {
    await lock.release();
  }
}

/** A rotation that was started and not finished: which key it rotates to, and how far it got. */
export interface InterruptedRotation {
  /** Fingerprint of the key it rotates to. */
  to: string;
  /** Rows already under the new key, and rows still under the old one. */
  done: number;
  left: number;
  /** `rotate-key --generate` kept the new key here (`<secretKeyFile>.next`); null: it came from --new-key-file. */
  keyFile: string | null;
}

/**
 * A key rotation killed half-way (its marker set, no rotate-key running now): some secrets are
 * under the new key, the rest under the old, until `rotate-key` is run again with the same key.
 */
export async function interruptedRotation(ctx: Context): Promise<InterruptedRotation | undefined> {
  const registry = await ctx.registry();
  const to = await getSetting(registry.knex, ROTATING_TO);
  if (!to) return undefined;
  const lock = await registry.tryLock('tenantctl:rotate-key', 0);
  if (!lock) return undefined; // under way right now
  await lock.release();
  let done = 0;
  let left = 0;
  for (const table of SECRET_TABLES) {
    for (const fingerprint of await secretRowFingerprints(registry.knex, table)) {
      if (fingerprint === to) done++;
      else left++;
    }
  }
  const next = nextKeyFile(ctx.config.secretKeyFile);
  let generated = false;
  try {
    generated = existsSync(next) && keyFingerprint(parseSecretKey(readFileSync(next, 'utf8'))) === to;
  } catch {
    generated = false;
  }
  return { to, done, left, keyFile: generated ? next : null };
}

/** The registry already uses the new key: clear a leftover marker and say so. */
async function finished(knex: Knex, to: string, keyFile?: string): Promise<RotateKeyResult> {
  await deleteSetting(knex, ROTATING_TO);
  return {
    changed: false,
    from: null,
    to,
    resumed: false,
    tenants: 0,
    servers: 0,
    moves: 0,
    backups: 0,
    keyFile,
    message: `the registry already uses key ${to}`,
  };
}

/**
 * The key `--generate` rotates to: the one an interrupted run left in `<keyFile>.next` (what it
 * re-encrypted with), or a new one written there (mode 0600, whole, then renamed into place).
 */
function nextGeneratedKey(keyFile: string, rotatingTo: string | undefined): Buffer {
  const next = nextKeyFile(keyFile);
  if (rotatingTo && existsSync(next)) {
    const key = parseSecretKey(readFileSync(next, 'utf8'));
    if (keyFingerprint(key) === rotatingTo) return key;
  }
  const key = generateSecretKey();
  const temporary = `${next}.${process.pid}.tmp`;
  writeFileSync(temporary, `${key.toString('hex')}\n`, { mode: 0o600 });
  renameSync(temporary, next);
  return key;
}

interface Keys {
  oldKey: Buffer;
  from: string;
  newKey: Buffer;
  to: string;
}

/**
 * One pass over a table: every row not yet under the new key is re-encrypted and marked in one
 * update, which applies only if the row is still as read (otherwise the next pass sees it again).
 * Returns how many rows it re-encrypted and how many it left for another pass.
 */
async function reencryptTable(
  knex: Knex,
  table: SecretTable,
  keys: Keys,
  hooks: OperationHooks | undefined,
): Promise<{ reencrypted: number; left: number }> {
  const rows = await secretRowsNotUnder(knex, table, keys.to);
  let reencrypted = 0;
  let left = 0;
  for (const row of rows) {
    const under = row.key_fingerprint ?? keys.from;
    if (under !== keys.from) {
      throw new UsageError(
        `${table.table} row ${row.id} is encrypted with key ${under}, neither the old nor the new one: its secrets cannot be re-encrypted`,
      );
    }
    const patch: Record<string, string | null> = { key_fingerprint: keys.to };
    for (const column of table.columns) {
      const stored = row[column];
      patch[column] =
        stored === null || stored === undefined ? null : encryptSecret(decryptSecret(stored, keys.oldKey), keys.newKey);
    }
    if (await updateSecretRowIfUnchanged(knex, table, row, patch)) reencrypted++;
    else left++;
    // A test slows the rotation down here, to kill it half-way.
    await hooks?.atStep?.('rotate-key-row');
  }
  return { reencrypted, left };
}
