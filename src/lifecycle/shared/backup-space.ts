import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A dump grows with the data since the last backup: this much room beyond it. */
const DUMP_GROWTH_MARGIN = 1.1;

/** The room a new dump needs, from the size of the last one. */
export function nextDumpBytes(lastBackupBytes: number): number {
  return Math.ceil(lastBackupBytes * DUMP_GROWTH_MARGIN);
}

/**
 * Free bytes, for this user, on the file system that holds `directory`. The backup directory may
 * not exist yet: its nearest existing parent is on the same file system. Null when it cannot tell.
 */
export async function freeBytesAt(directory: string): Promise<number | null> {
  for (let path = directory; ; path = dirname(path)) {
    try {
      const { bavail, bsize } = await statfs(path);
      return bavail * bsize;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) return null;
    }
  }
}
