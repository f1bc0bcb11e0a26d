import { describe, expect, it } from 'vitest';
import {
  decryptSecret,
  encryptSecret,
  generatePassword,
  generateSecretKey,
  parseSecretKey,
  redact,
} from '../../src/core/secrets.js';

describe('secrets at rest', () => {
  const key = generateSecretKey();

  it('round-trips, and never stores the plaintext or the same ciphertext twice', () => {
    const stored = encryptSecret('s3cret-password', key);
    expect(stored).not.toContain('s3cret');
    expect(decryptSecret(stored, key)).toBe('s3cret-password');
    expect(encryptSecret('s3cret-password', key)).not.toBe(stored);
  });

  it('refuses a wrong key and a tampered ciphertext', () => {
    const stored = encryptSecret('s3cret', key);
    expect(() => decryptSecret(stored, generateSecretKey())).toThrow(/not the one it was encrypted with/);
    const parts = stored.split(':');
    const flipped = Buffer.from(parts[3]!, 'base64');
    flipped[0] = flipped[0]! ^ 1;
    parts[3] = flipped.toString('base64');
    expect(() => decryptSecret(parts.join(':'), key)).toThrow();
  });

  it('reads keys as 64 hex characters or base64 of 32 bytes, and nothing else', () => {
    const hex = key.toString('hex');
    expect(parseSecretKey(hex).equals(key)).toBe(true);
    expect(parseSecretKey(key.toString('base64')).equals(key)).toBe(true);
    expect(() => parseSecretKey('too-short')).toThrow(/32 bytes/);
    expect(() => parseSecretKey(hex.slice(2))).toThrow(/32 bytes/);
  });

  it('generates distinct 32-character passwords that need no quoting', () => {
    const passwords = new Set(Array.from({ length: 100 }, generatePassword));
    expect(passwords.size).toBe(100);
    for (const p of passwords) expect(p).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('redacts every occurrence of a secret from a message', () => {
    expect(redact("create user 'x' identified by 'pw1' - pw1 rejected", ['pw1'])).toBe(
      "create user 'x' identified by '[redacted]' - [redacted] rejected",
    );
  });
});
