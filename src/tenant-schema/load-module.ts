import { pathToFileURL } from 'node:url';

const TYPESCRIPT = /\.[cm]?ts$/;
let typescriptHooked = false;

/**
 * Imports an operator's migration or seed file, whatever it is written in: CommonJS
 * (`exports.up = …`), an ES module, or TypeScript (compiled on the fly by tsx, registered only
 * when the first .ts file is met). Returns the module's exports.
 */
export async function importUserModule<T extends object>(file: string): Promise<T> {
  if (TYPESCRIPT.test(file) && !typescriptHooked) {
    const { register } = await import('tsx/esm/api');
    register();
    typescriptHooked = true;
  }
  const namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  // A CommonJS module arrives as `default` (module.exports), with named exports only where Node
  // can detect them statically; `export default { up, down }` looks alike. Named exports win.
  const fallback = namespace.default;
  if (fallback && (typeof fallback === 'object' || typeof fallback === 'function')) {
    return { ...fallback, ...namespace } as T;
  }
  return namespace as T;
}

const LOADABLE = /\.(js|cjs|mjs|ts|cts|mts)$/;

/**
 * Files in a directory that can hold migrations or seeds: those tenantctl can load, or (a
 * knexfile's `loadExtensions`) those of the extensions named, as Knex picks them.
 */
export function isLoadableFile(name: string, extensions?: readonly string[]): boolean {
  if (name.startsWith('.') || name.endsWith('.d.ts')) return false;
  return extensions ? extensions.some((ext) => name.endsWith(ext)) : LOADABLE.test(name);
}
