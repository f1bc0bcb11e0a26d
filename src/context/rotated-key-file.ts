import { existsSync, readFileSync, renameSync } from 'node:fs';
import { keyFingerprint, parseSecretKey } from '../core/secrets.js';
import { getSetting, type Registry } from '../registry/registry.js';

/** Where `rotate-key --generate` keeps the new key until the rotation is complete. */
export const nextKeyFile = (keyFile: string) => `${keyFile}.next`;

/**
 * Finishes a `rotate-key --generate` killed after the registry switched to the new key but
 * before the new key file replaced the old one: when `<keyFile>.next` holds the key the registry
 * now expects, it is moved into place (one rename). Returns the key it installed, if it did.
 */
export async function finishKeyFileSwap(keyFile: string, registry: Registry): Promise<Buffer | undefined> {
  const next = nextKeyFile(keyFile);
  if (!existsSync(next)) return undefined;
  let key: Buffer;
  try {
    key = parseSecretKey(readFileSync(next, 'utf8'));
  } catch {
    return undefined;
  }
  if (keyFingerprint(key) !== (await getSetting(registry.knex, 'secret_key_fingerprint'))) return undefined;
  renameSync(next, keyFile);
  return key;
}
