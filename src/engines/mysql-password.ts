import { createHash, randomBytes } from 'node:crypto';

/**
 * The forms in which MySQL and MariaDB store a password, computed here so that an account's
 * password is sent as its hash (`IDENTIFIED BY PASSWORD '*…'`, `IDENTIFIED WITH … AS '$A$005$…'`)
 * and the plaintext never crosses to the server, whose general query log, slow log and binary log
 * would keep it.
 */

const sha1 = (data: Buffer | string) => createHash('sha1').update(data).digest();

/** mysql_native_password's stored form: `*` and the upper-case hex of SHA1(SHA1(password)). */
export function nativePasswordHash(password: string): string {
  return `*${sha1(sha1(password)).toString('hex').toUpperCase()}`;
}

/** The alphabet of crypt(3)'s base 64, which caching_sha2_password's stored form uses too. */
const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `length` bytes of `digest`, repeated as often as needed. */
function repeated(digest: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = digest[i % digest.length]!;
  return out;
}

/**
 * SHA-256 crypt (Ulrich Drepper's SHA-crypt, as glibc's `$5$`), without its 16-byte limit on the
 * salt: MySQL's caching_sha2_password uses it with a 20-byte salt. Returns the 43-character digest.
 */
export function sha256Crypt(password: Buffer, salt: Buffer, rounds: number): string {
  const hash = (...parts: Buffer[]) => {
    const h = createHash('sha256');
    for (const part of parts) h.update(part);
    return h.digest();
  };
  const b = hash(password, salt, password);
  const a = createHash('sha256').update(password).update(salt).update(repeated(b, password.length));
  for (let n = password.length; n > 0; n >>= 1) a.update(n & 1 ? b : password);
  const digestA = a.digest();
  const p = repeated(hash(...Array<Buffer>(password.length).fill(password)), password.length);
  const s = repeated(hash(...Array<Buffer>(16 + digestA[0]!).fill(salt)), salt.length);
  let c = digestA;
  for (let i = 0; i < rounds; i++) {
    const round = createHash('sha256');
    round.update(i & 1 ? p : c);
    if (i % 3) round.update(s);
    if (i % 7) round.update(p);
    round.update(i & 1 ? c : p);
    c = round.digest();
  }
  let out = '';
  const encode = (b2: number, b1: number, b0: number, chars: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < chars; i++, w >>= 6) out += CRYPT_ALPHABET[w & 63];
  };
  const groups = [
    [0, 10, 20],
    [21, 1, 11],
    [12, 22, 2],
    [3, 13, 23],
    [24, 4, 14],
    [15, 25, 5],
    [6, 16, 26],
    [27, 7, 17],
    [18, 28, 8],
    [9, 19, 29],
  ];
  for (const [x, y, z] of groups) encode(c[x!]!, c[y!]!, c[z!]!, 4);
  encode(0, c[31]!, c[30]!, 3);
  return out;
}

/**
 * caching_sha2_password's stored form (MySQL 8): `$A$005$`, a 20-character salt and the
 * SHA-256 crypt digest of 5000 rounds (005 × 1000). The salt is drawn from crypt's alphabet, so the
 * whole string is printable and holds no `$` past the prefix.
 */
export function cachingSha2PasswordHash(password: string, salt = randomSalt()): string {
  return `$A$005$${salt}${sha256Crypt(Buffer.from(password, 'utf8'), Buffer.from(salt, 'latin1'), 5000)}`;
}

function randomSalt(): string {
  return [...randomBytes(20)].map((byte) => CRYPT_ALPHABET[byte & 63]).join('');
}
