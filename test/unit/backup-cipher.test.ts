import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { BackupIntegrityError, DecryptingStream, EncryptingStream } from '../../src/core/backup-cipher.js';

const dataKey = randomBytes(32);

async function encrypt(plain: Buffer, chunkSize = 1024): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from([plain]),
    new EncryptingStream(dataKey, 'abcdef0123456789', 'wrapped', chunkSize),
    async (source) => {
      for await (const chunk of source) out.push(chunk as Buffer);
    },
  );
  return Buffer.concat(out);
}

async function decrypt(sealed: Buffer, key = dataKey): Promise<Buffer> {
  const out: Buffer[] = [];
  // Fed in odd-sized pieces: chunk boundaries must not depend on how the bytes arrive.
  const pieces: Buffer[] = [];
  for (let i = 0; i < sealed.length; i += 777) pieces.push(sealed.subarray(i, i + 777));
  await pipeline(Readable.from(pieces), new DecryptingStream(() => key), async (source) => {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
}

describe('backup encryption (chunked AES-256-GCM)', () => {
  it('round-trips any length, including none and exact multiples of the chunk size', async () => {
    for (const length of [0, 1, 1023, 1024, 1025, 4096, 10_000]) {
      const plain = randomBytes(length);
      expect((await decrypt(await encrypt(plain))).equals(plain), `${length} bytes`).toBe(true);
    }
  });

  it('records the wrapped key and the key fingerprint in the header', async () => {
    const sealed = await encrypt(Buffer.from('hello'));
    expect(sealed.subarray(0, 8).toString()).toBe('TCTLENC1');
    expect(sealed.toString('latin1')).toContain('abcdef0123456789');
    expect(sealed.toString('latin1')).toContain('wrapped');
    expect(sealed.toString('latin1')).not.toContain('hello');
  });

  it('detects one changed byte anywhere: header, a chunk, a tag', async () => {
    const sealed = await encrypt(randomBytes(5000));
    for (const at of [10, 60, 100, 1500, sealed.length - 1]) {
      const changed = Buffer.from(sealed);
      changed[at]! ^= 0x80;
      await expect(decrypt(changed), `byte ${at}`).rejects.toBeInstanceOf(BackupIntegrityError);
    }
  });

  it('detects a file cut short, inside a chunk or exactly at a chunk boundary, and chunks swapped', async () => {
    const plain = randomBytes(4096); // 4 full chunks and an empty last one
    const sealed = await encrypt(plain);
    const header = sealed.length - (4 * (1024 + 16) + 16);
    await expect(decrypt(sealed.subarray(0, sealed.length - 5))).rejects.toThrow(/cut short|authenticate/);
    // Without the (empty) last chunk: every byte left authenticates, but the end is missing.
    await expect(decrypt(sealed.subarray(0, sealed.length - 16))).rejects.toThrow(/cut short|authenticate/);
    await expect(decrypt(sealed.subarray(0, header + 2 * 1040))).rejects.toThrow(/cut short|authenticate/);
    const swapped = Buffer.concat([
      sealed.subarray(0, header),
      sealed.subarray(header + 1040, header + 2080),
      sealed.subarray(header, header + 1040),
      sealed.subarray(header + 2080),
    ]);
    await expect(decrypt(swapped)).rejects.toBeInstanceOf(BackupIntegrityError);
  });

  it('refuses another key', async () => {
    const sealed = await encrypt(randomBytes(100));
    await expect(decrypt(sealed, randomBytes(32))).rejects.toBeInstanceOf(BackupIntegrityError);
  });
});
