import { createHash } from 'node:crypto';

/**
 * `<count>:<md5 of the names sorted and joined by newlines>` (`0:` for none): equal
 * fingerprints mean the same set of migrations, whatever order they ran in.
 */
export function migrationFingerprint(names: readonly string[]): string {
  if (names.length === 0) return '0:';
  return `${names.length}:${createHash('md5')
    .update([...names].sort().join('\n'))
    .digest('hex')}`;
}
