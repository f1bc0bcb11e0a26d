import { existsSync, readFileSync } from 'node:fs';
import { RegistryKeyError } from '../core/errors.js';
import { decryptSecret, keyFingerprint, parseSecretKey } from '../core/secrets.js';
import { nextKeyFile } from './rotated-key-file.js';

/** How long a key stays readable after a newer one was read: see KeyRing. */
export const KEY_OVERLAP_MS = 24 * 3600_000;

/** Key files are read again at most this often, however many secrets fail to decrypt. */
const REREAD_INTERVAL_MS = 1000;

interface HeldKey {
  key: Buffer;
  fingerprint: string;
  /** When a newer key was read: this one stays readable for the overlap after that. */
  supersededAt?: number;
}

/**
 * The keys a process can decrypt the registry's secrets with. It starts with the configured key;
 * a secret none of them opens (AES-GCM says so: a wrong key never yields wrong plaintext) makes
 * it read the key file again, and `<keyFile>.next` where `rotate-key --generate` keeps the new key
 * until it is done, so a long-running application follows a key rotation without a restart. A
 * key superseded by a newer one stays readable for `overlapMs`, so secrets a rotation under way
 * (or killed half-way) has not reached yet still decrypt; then it is forgotten.
 */
export class KeyRing {
  private readonly keys: HeldKey[] = [];
  private lastRead = 0;

  constructor(
    initial: Buffer,
    private readonly keyFile: string | undefined,
    private readonly overlapMs: number = KEY_OVERLAP_MS,
  ) {
    this.keys.push({ key: initial, fingerprint: keyFingerprint(initial) });
  }

  /** Fingerprints of the keys held now, newest first. */
  fingerprints(): string[] {
    this.forgetExpired();
    return this.keys.map((k) => k.fingerprint);
  }

  /** The key with this fingerprint, reading the key files again if none held has it. */
  keyFor(fingerprint: string): Buffer | undefined {
    const held = () => this.usable().find((k) => k.fingerprint === fingerprint)?.key;
    return held() ?? (this.reread(true) ? held() : undefined);
  }

  /** Decrypts with whichever key opens it; RegistryKeyError when none does, even after reading the key files again. */
  decrypt(stored: string): string {
    const attempt = () => {
      for (const { key } of this.usable()) {
        try {
          return decryptSecret(stored, key);
        } catch {
          // another key, maybe
        }
      }
      return undefined;
    };
    const plaintext = attempt() ?? (this.reread(false) ? attempt() : undefined);
    if (plaintext !== undefined) return plaintext;
    throw new RegistryKeyError(
      `a stored secret opens with none of the keys this process holds (${this.fingerprints().join(', ')}): ` +
        `the registry's key was rotated, or it is not this registry's key; put the registry's current key in ` +
        `${this.keyFile ?? 'secretKeyFile'} (it is read again, no restart needed) or set secretKey to it`,
    );
  }

  private usable(): HeldKey[] {
    this.forgetExpired();
    return this.keys;
  }

  private forgetExpired(): void {
    const cutoff = Date.now() - this.overlapMs;
    for (let i = this.keys.length - 1; i >= 0; i--) {
      const superseded = this.keys[i]!.supersededAt;
      if (superseded !== undefined && superseded < cutoff) this.keys.splice(i, 1);
    }
  }

  /** Reads the key file and its `.next` again; true when that gave a key not held before. */
  private reread(force: boolean): boolean {
    if (!this.keyFile) return false;
    if (!force && Date.now() - this.lastRead < REREAD_INTERVAL_MS) return false;
    this.lastRead = Date.now();
    let added = false;
    for (const file of [this.keyFile, nextKeyFile(this.keyFile)]) {
      let key: Buffer;
      try {
        if (!existsSync(file)) continue;
        key = parseSecretKey(readFileSync(file, 'utf8'));
      } catch {
        continue; // half-written, or not a key: the next read may do better
      }
      const fingerprint = keyFingerprint(key);
      if (this.keys.some((k) => k.fingerprint === fingerprint)) continue;
      const now = Date.now();
      for (const held of this.keys) held.supersededAt ??= now;
      this.keys.unshift({ key, fingerprint });
      added = true;
    }
    return added;
  }
}
