import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EnvironmentError } from '../core/errors.js';
import { ownerState, processOwner, type ProcessOwner } from '../core/process-owner.js';

/**
 * Where the credential files of dump and restore tools live while a tool runs: a private
 * directory (0700) under tenantctl's `home`, so that one killed mid-dump leaves its file where the
 * next run and `doctor` look, not in a shared /tmp.
 */
export function credentialDirectory(home: string): string {
  return join(home, 'tool-credentials');
}

/**
 * Each file's first line says which process owns it. Both tools that read these files skip it:
 * `#` starts a comment in a MySQL option file, and libpq skips a password file line that matches
 * no connection (it has no `:`-separated fields to match).
 */
const OWNER_LINE = /^# tenantctl owner host=(\S+) pid=(\d+) start=(\S+)$/;
/** `<pid>-<random>-<name>`: the pid for people listing the directory, the random part for uniqueness. */
const FILE_NAME = /^\d+-[0-9a-f]{12}-[a-z.]+$/;

function ownerLine(owner: ProcessOwner): string {
  return `# tenantctl owner host=${owner.host} pid=${owner.pid} start=${owner.start ?? '-'}`;
}

/**
 * Makes `directory` private to this user (mode 0700), or refuses one that is not a directory of
 * this user's (a symlink, another user's): a credential file must never land where someone else
 * can read or swap it.
 */
function privateDirectory(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stat = lstatSync(directory);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new EnvironmentError(`${directory} is not a directory of this user: it cannot hold credential files`);
  }
  if ((stat.mode & 0o777) !== 0o700) chmodSync(directory, 0o700);
}

/** The owner a credential file names, or null for a file cut short before its first line. */
function fileOwner(file: string): ProcessOwner | null {
  const buffer = Buffer.alloc(512);
  let read = 0;
  try {
    const fd = openSync(file, 'r');
    try {
      read = readSync(fd, buffer, 0, buffer.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  const match = OWNER_LINE.exec(buffer.subarray(0, read).toString('utf8').split('\n')[0]!);
  if (!match) return null;
  return { host: match[1]!, pid: Number(match[2]), start: match[3] === '-' ? null : match[3]! };
}

/** A credential file a killed tenantctl left behind. */
export interface LeftoverCredentialFile {
  file: string;
  /** Who wrote it, as its first line says; null when it was cut short (then its name's pid decides). */
  owner: ProcessOwner | null;
}

/**
 * The credential files in `directory` whose process is gone (killed mid-dump). Another host's
 * files (a `home` on a shared disk) are left to that host; a file whose owner line was never
 * written is judged by the pid in its name.
 */
export function leftoverCredentialFiles(directory: string): LeftoverCredentialFile[] {
  let names: string[];
  try {
    names = readdirSync(directory);
  } catch {
    return []; // no directory: nothing was ever left
  }
  const leftovers: LeftoverCredentialFile[] = [];
  for (const name of names.filter((n) => FILE_NAME.test(n))) {
    const file = join(directory, name);
    const owner = fileOwner(file);
    const judged = owner ?? { host: hostname(), pid: Number(name.split('-')[0]), start: null };
    if (ownerState(judged) === 'gone') leftovers.push({ file, owner });
  }
  return leftovers;
}

/** Removes the credential files of processes that are gone; returns how many. */
export function sweepCredentialFiles(directory: string): number {
  const leftovers = leftoverCredentialFiles(directory);
  for (const { file } of leftovers) rmSync(file, { force: true });
  return leftovers.length;
}

/**
 * Runs `fn` with a file holding credentials for a tool: mode 0600 in the private `directory`
 * (0700), named by this process's pid, removed afterwards whatever happens. Tools read secrets
 * from it, so they reach neither a command line nor an environment. A file a killed run left is
 * swept here by the next one, and reported by `doctor` until then.
 *
 * (An inherited pipe instead of a file would leave nothing on disk, but libpq refuses a password
 * file that is not a regular file, so PostgreSQL's tools could not read one.)
 */
export async function withCredentialFile<T>(
  directory: string,
  name: string,
  content: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  privateDirectory(directory);
  sweepCredentialFiles(directory);
  const owner = processOwner();
  const file = join(directory, `${owner.pid}-${randomBytes(6).toString('hex')}-${name}`);
  try {
    // wx: never through a file (or link) that is already there.
    writeFileSync(file, `${ownerLine(owner)}\n${content}`, { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    rmSync(file, { force: true });
  }
}
