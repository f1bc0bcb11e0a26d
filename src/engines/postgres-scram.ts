import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677). Sending the
 * verifier instead of the password keeps the plaintext out of the server's statement log.
 * Our generated passwords are ASCII, so SASLprep leaves them unchanged.
 */
export function scramSha256Verifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * Whether `password` is the one a stored verifier (pg_authid.rolpassword) was made from: a
 * SCRAM-SHA-256 verifier, or an old `md5…` hash (of password and user); null for anything else.
 */
export function verifierMatches(stored: string, user: string, password: string): boolean | null {
  const scram = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(stored);
  if (scram) {
    const salted = pbkdf2Sync(password, Buffer.from(scram[2]!, 'base64'), Number(scram[1]), 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const expected = Buffer.from(scram[3]!, 'base64');
    return expected.length === storedKey.length && timingSafeEqual(expected, storedKey);
  }
  if (/^md5[0-9a-f]{32}$/.test(stored))
    return (
      stored ===
      `md5${createHash('md5')
        .update(password + user)
        .digest('hex')}`
    );
  return null;
}
