import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { TenantctlError } from './errors.js';

/**
 * The encrypted backup format (version 1), readable with the registry key alone (README:
 * "Decrypting a backup without the registry"):
 *
 *   header  = "TCTLENC1" | chunk size (uint32 BE) | nonce prefix (7 bytes)
 *             | key fingerprint (16 ASCII hex) | wrapped key length (uint16 BE) | wrapped key (UTF-8)
 *   chunk i = AES-256-GCM(data key, nonce = prefix | i (uint32 BE) | last (1 byte: 0 or 1),
 *                         aad = the whole header) → ciphertext | 16-byte tag
 *
 * Every chunk holds `chunk size` bytes of plaintext but the last, which holds 0 to `chunk size`
 * and is the only one sealed with last = 1. The index in the nonce detects reordered or dropped
 * chunks, the last-chunk flag a file cut at a chunk boundary, the header as AAD a header that was
 * changed (another wrapped key, another chunk size). The wrapped key is the data key (base64)
 * encrypted like any registry secret (`v1:<iv>:<tag>:<ciphertext>`, src/core/secrets.ts) under the
 * registry key whose fingerprint the header names.
 */
export const CIPHER_MAGIC = Buffer.from('TCTLENC1', 'ascii');
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
const TAG = 16;
const PREFIX = 7;
const FIXED_HEADER = CIPHER_MAGIC.length + 4 + PREFIX + 16 + 2;
const MAX_CHUNK = 16 * 1024 * 1024;

/** A backup file that fails authentication: changed, cut short, or not what it claims to be. */
export class BackupIntegrityError extends TenantctlError {
  override readonly code = 'backup_tampered';
}

export interface CipherHeader {
  chunkSize: number;
  noncePrefix: Buffer;
  /** Fingerprint of the registry key the data key is wrapped with. */
  keyFingerprint: string;
  /** The data key, encrypted under that registry key. */
  wrappedKey: string;
  /** The header's bytes as written: every chunk's AAD. */
  raw: Buffer;
}

function encodeHeader(chunkSize: number, noncePrefix: Buffer, keyFingerprint: string, wrappedKey: string): Buffer {
  const wrapped = Buffer.from(wrappedKey, 'utf8');
  const fixed = Buffer.alloc(FIXED_HEADER);
  CIPHER_MAGIC.copy(fixed, 0);
  fixed.writeUInt32BE(chunkSize, 8);
  noncePrefix.copy(fixed, 12);
  fixed.write(keyFingerprint.padEnd(16, '0').slice(0, 16), 12 + PREFIX, 'ascii');
  fixed.writeUInt16BE(wrapped.length, 12 + PREFIX + 16);
  return Buffer.concat([fixed, wrapped]);
}

/** Parses a header from the start of `data`: the header and its length, or undefined while more bytes are needed. */
export function parseCipherHeader(data: Buffer): CipherHeader | undefined {
  if (data.length < FIXED_HEADER) {
    if (!CIPHER_MAGIC.subarray(0, data.length).equals(data.subarray(0, CIPHER_MAGIC.length)))
      throw new BackupIntegrityError('not an encrypted tenantctl backup (its header is not one)');
    return undefined;
  }
  if (!data.subarray(0, CIPHER_MAGIC.length).equals(CIPHER_MAGIC))
    throw new BackupIntegrityError('not an encrypted tenantctl backup (its header is not one)');
  const chunkSize = data.readUInt32BE(8);
  if (chunkSize < 1 || chunkSize > MAX_CHUNK) throw new BackupIntegrityError('encrypted backup: bad chunk size');
  const wrappedLength = data.readUInt16BE(12 + PREFIX + 16);
  if (data.length < FIXED_HEADER + wrappedLength) return undefined;
  const raw = Buffer.from(data.subarray(0, FIXED_HEADER + wrappedLength));
  return {
    chunkSize,
    noncePrefix: Buffer.from(raw.subarray(12, 12 + PREFIX)),
    keyFingerprint: raw.toString('ascii', 12 + PREFIX, 12 + PREFIX + 16),
    wrappedKey: raw.toString('utf8', FIXED_HEADER),
    raw,
  };
}

/** True when `data` starts like an encrypted backup. */
export function isEncryptedBackup(start: Buffer): boolean {
  return start.length >= CIPHER_MAGIC.length && start.subarray(0, CIPHER_MAGIC.length).equals(CIPHER_MAGIC);
}

function nonceFor(prefix: Buffer, index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(index, PREFIX);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Encrypts a stream into the format above, with a fresh nonce prefix; memory: one chunk. */
export class EncryptingStream extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private index = 0;
  private readonly header: Buffer;
  private readonly noncePrefix = randomBytes(PREFIX);

  constructor(
    private readonly dataKey: Buffer,
    keyFingerprint: string,
    wrappedKey: string,
    private readonly chunkSize = DEFAULT_CHUNK_SIZE,
  ) {
    super();
    this.header = encodeHeader(chunkSize, this.noncePrefix, keyFingerprint, wrappedKey);
    this.push(this.header);
  }

  private seal(plaintext: Buffer, last: boolean): Buffer {
    if (this.index > 0xffffffff) throw new BackupIntegrityError('backup too large to encrypt');
    const cipher = createCipheriv('aes-256-gcm', this.dataKey, nonceFor(this.noncePrefix, this.index++, last));
    cipher.setAAD(this.header);
    return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // A full chunk is sealed only once more follows: the last one must carry the last-chunk flag.
    while (this.pendingBytes > this.chunkSize) {
      const all = Buffer.concat(this.pending);
      this.push(this.seal(all.subarray(0, this.chunkSize), false));
      const rest = all.subarray(this.chunkSize);
      this.pending = [rest];
      this.pendingBytes = rest.length;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.push(this.seal(Buffer.concat(this.pending), true));
    callback();
  }
}

/**
 * Decrypts the format above, passing on only chunks whose tag checked out; a changed, reordered or
 * cut file fails the stream with BackupIntegrityError. `keyOf` unwraps the data key from the
 * header (the registry's key ring, or a key file).
 */
export class DecryptingStream extends Transform {
  private buffered: Buffer = Buffer.alloc(0);
  private header: CipherHeader | undefined;
  private dataKey: Buffer | undefined;
  private index = 0;

  constructor(private readonly keyOf: (header: CipherHeader) => Promise<Buffer> | Buffer) {
    super();
  }

  private open(ciphertext: Buffer, last: boolean): Buffer {
    const header = this.header!;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.dataKey!, nonceFor(header.noncePrefix, this.index++, last));
      decipher.setAAD(header.raw);
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG));
      return Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - TAG)), decipher.final()]);
    } catch {
      throw new BackupIntegrityError(
        last
          ? `encrypted backup: its last chunk (${this.index - 1}) does not authenticate: the file was cut short or changed`
          : `encrypted backup: chunk ${this.index - 1} does not authenticate: the file was changed`,
      );
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    void this.drain().then(() => callback(), callback);
  }

  private async drain(): Promise<void> {
    if (!this.header) {
      const header = parseCipherHeader(this.buffered);
      if (!header) return;
      this.dataKey = await this.keyOf(header);
      this.header = header;
      this.buffered = this.buffered.subarray(header.raw.length);
    }
    const sealed = this.header.chunkSize + TAG;
    // The last chunk is only known at the end: a full one is opened only once more follows it.
    while (this.buffered.length > sealed) {
      this.push(this.open(this.buffered.subarray(0, sealed), false));
      this.buffered = this.buffered.subarray(sealed);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (!this.header) throw new BackupIntegrityError('encrypted backup: cut short inside its header');
      if (this.buffered.length < TAG)
        throw new BackupIntegrityError('encrypted backup: cut short (its last chunk is missing)');
      this.push(this.open(this.buffered, true));
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }
}
