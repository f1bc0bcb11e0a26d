import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The names the knex CLI looks for, in its order. */
export const KNEXFILE_NAMES = ['js', 'cjs', 'mjs', 'ts', 'cts', 'mts'].map((ext) => `knexfile.${ext}`);

/** The knexfile in `directory`, as the knex CLI finds it there; undefined when there is none. */
export function findKnexfile(directory: string): string | undefined {
  return KNEXFILE_NAMES.map((name) => join(directory, name)).find((file) => existsSync(file));
}
