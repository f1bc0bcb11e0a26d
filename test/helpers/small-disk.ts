import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs `fn` with a real, small file system (a tmpfs of `kilobytes`) mounted on a new directory:
 * how the tests meet a backup disk that is too small or full, without filling the machine's own.
 */
export async function withSmallDisk<T>(kilobytes: number, fn: (directory: string) => Promise<T>): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), 'tenantctl-small-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kilobytes}k`, 'tmpfs', directory]);
  try {
    return await fn(directory);
  } finally {
    execFileSync('umount', [directory]);
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Takes every free byte of the file system holding `directory`. */
export function fillDisk(directory: string): void {
  const { bavail, bsize } = statfsSync(directory);
  writeFileSync(join(directory, 'filler'), Buffer.alloc(bavail * bsize));
}
