import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { UsageError } from './errors.js';

/**
 * AES-256-GCM for secrets at rest in the registry. Stored form: `v1:<iv>:<tag>:<ciphertext>`,
 * each base64. The version prefix leaves room for key rotation.
 */
const VERSION = 'v1';

export function encryptSecret(plaintext: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')].join(
    ':',
  );
}

export function decryptSecret(stored: string, key: Buffer): string {
  const [version, iv, tag, ciphertext] = stored.split(':');
  if (version !== VERSION || !iv || !tag || ciphertext === undefined) {
    throw new UsageError('a stored secret is not in a format this tenantctl can read');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new UsageError('a stored secret cannot be decrypted: the secret key is not the one it was encrypted with');
  }
}

/**
 * Parses a 32-byte key given as 64 hex characters or as base64. Anything else is refused rather
 * than stretched, so that a typo cannot silently become a different key.
 */
export function parseSecretKey(text: string): Buffer {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  const decoded = Buffer.from(trimmed, 'base64');
  if (decoded.length === 32 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return decoded;
  throw new UsageError('the secret key must be 32 bytes, written as 64 hex characters or as base64');
}

export function generateSecretKey(): Buffer {
  return randomBytes(32);
}

/** A short, non-reversible fingerprint, stored in the registry to detect a wrong key early. */
export function keyFingerprint(key: Buffer): string {
  return createHash('sha256').update('tenantctl-key-check').update(key).digest('hex').slice(0, 16);
}

/**
 * A database password: 32 characters of base64url (192 bits). Its alphabet needs no quoting in
 * any engine's string literal, and it is never printed unless asked for.
 */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/** Replaces every occurrence of the given secrets in a message; used on driver error text. */
export function redact(message: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = message;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  return out;
}
