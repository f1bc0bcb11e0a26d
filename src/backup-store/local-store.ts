import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { access, constants, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../core/errors.js';
import type { BackupStore, LeftoverUpload, StoreWriter, StoredObject } from './backup-store.js';

/** Where a local dump is written until it is complete and renamed (see interrupted-backups). */
export const partialFileFor = (file: string): string => `${file}.partial`;

/** Backups as files under a directory: `<dir>/<slug>/<name>`, directories 0700, files 0600. */
export class LocalStore implements BackupStore {
  readonly kind = 'local' as const;
  readonly root: string;

  constructor(directory: string) {
    this.root = resolve(directory);
  }

  locationFor(slug: string, name: string): string {
    return join(this.root, slug, name);
  }

  holds(location: string): boolean {
    return isAbsolute(location) && resolve(location).startsWith(this.root + sep);
  }

  async exists(location: string): Promise<boolean> {
    return existsSync(location);
  }

  async stat(location: string): Promise<StoredObject | undefined> {
    try {
      return { location, bytes: statSync(location).size };
    } catch {
      return undefined;
    }
  }

  async write(location: string): Promise<StoreWriter> {
    mkdirSync(dirname(location), { recursive: true, mode: 0o700 });
    const partial = partialFileFor(location);
    const input = createWriteStream(partial, { mode: 0o600, flags: 'wx' });
    const received = finished(input);
    received.catch(() => undefined); // observed by the caller; never unhandled
    return {
      input,
      received,
      complete: async () => renameSync(partial, location),
      abort: async (reason) => {
        input.destroy(reason);
        await finished(input).catch(() => undefined);
        rmSync(partial, { force: true });
      },
    };
  }

  async read(location: string): Promise<Readable> {
    if (!existsSync(location)) throw new NotFoundError(`backup file ${location} does not exist`);
    return createReadStream(location);
  }

  async remove(location: string): Promise<void> {
    rmSync(location, { force: true });
  }

  async list(slug?: string): Promise<StoredObject[]> {
    const top = slug ? join(this.root, slug) : this.root;
    const found: StoredObject[] = [];
    const walk = (directory: string) => {
      for (const entry of existsSync(directory) ? readdirSync(directory, { withFileTypes: true }) : []) {
        const path = join(directory, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) found.push({ location: path, bytes: statSync(path).size });
      }
    };
    walk(top);
    return found;
  }

  async probe(): Promise<string | undefined> {
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
      await access(this.root, constants.W_OK);
      const probe = join(this.root, `.probe-${process.pid}`);
      await writeFile(probe, '');
      rmSync(probe, { force: true });
      return undefined;
    } catch (error) {
      return `${this.root} is not writable: ${(error as Error).message}`;
    }
  }

  async leftoverUploads(): Promise<LeftoverUpload[]> {
    return [];
  }

  async abortUpload(): Promise<void> {}
}
