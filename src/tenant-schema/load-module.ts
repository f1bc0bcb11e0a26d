import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const TYPESCRIPT = /\.[cm]?ts$/;

type ScopedImport = (url: string, parent: string) => Promise<unknown>;
/** One tsx loader per tsconfig (the project's), made when its first file is met. */
const loaders = new Map<string, Promise<ScopedImport>>();
let globalCjsHooked = false;

/**
 * Imports an operator's migration, seed, knexfile or admin setup, whatever it is written in:
 * CommonJS (`exports.up = …`), an ES module, or TypeScript (`.ts`, `.cts`, `.mts`), in a CommonJS
 * or an ES module package, importing the project's own `.ts` modules (with or without
 * extensions) and its tsconfig's `paths`, as the knex CLI does under tsx. A TypeScript file, or
 * any file of a project with a tsconfig.json, goes through tsx, with both its hooks (ESM and
 * CommonJS: a `.ts` file of a CommonJS package is compiled to CommonJS, and its `require`s of
 * `.ts` files are compiled too), in a namespace of its own that reads the project's tsconfig;
 * other files are imported as they are. Returns the module's exports.
 */
export async function importUserModule<T extends object>(file: string): Promise<T> {
  const tsconfig = nearestTsconfig(dirname(file));
  const url = pathToFileURL(file).href;
  let namespace: Record<string, unknown>;
  if (TYPESCRIPT.test(file) || tsconfig) {
    const key = tsconfig ?? '';
    let loader = loaders.get(key);
    if (!loader) {
      loader = tsxLoader(tsconfig);
      loaders.set(key, loader);
    }
    namespace = (await (await loader)(url, import.meta.url)) as Record<string, unknown>;
  } else {
    namespace = (await import(url)) as Record<string, unknown>;
  }
  // A CommonJS module arrives as `default` (module.exports), with named exports only where Node
  // can detect them statically; `export default { up, down }` looks alike. Named exports win.
  const fallback = namespace.default;
  if (fallback && (typeof fallback === 'object' || typeof fallback === 'function')) {
    return { ...fallback, ...namespace } as T;
  }
  return namespace as T;
}

/**
 * tsx's CommonJS and ESM hooks under one namespace (what its tsImport does, kept for every file
 * of the project rather than one per file), reading `tsconfig` (its `paths`, its `module`). The
 * CommonJS hook reads the tsconfig from TSX_TSCONFIG_PATH as it registers: set for that call only.
 */
async function tsxLoader(tsconfig: string | undefined): Promise<ScopedImport> {
  const namespace = `tenantctl-${randomUUID()}`;
  const cjs = createRequire(import.meta.url)('tsx/cjs/api') as {
    register(options?: { namespace: string }): unknown;
  };
  const before = process.env.TSX_TSCONFIG_PATH;
  if (tsconfig) process.env.TSX_TSCONFIG_PATH = tsconfig;
  try {
    cjs.register({ namespace });
    // A plain CommonJS migration's require('../src/roles.ts') is Node's own require, outside any
    // namespace: the hook for every require compiles the project's .ts files there too (once).
    if (!globalCjsHooked) {
      cjs.register();
      globalCjsHooked = true;
    }
  } finally {
    if (before === undefined) delete process.env.TSX_TSCONFIG_PATH;
    else process.env.TSX_TSCONFIG_PATH = before;
  }
  const { register } = await import('tsx/esm/api');
  const scoped = register({ namespace, ...(tsconfig ? { tsconfig } : {}) });
  return (url, parent) => scoped.import(url, parent) as Promise<unknown>;
}

/** The tsconfig.json of the project a file is in: the nearest one up from its directory, not past its package. */
function nearestTsconfig(directory: string): string | undefined {
  for (let dir = directory; ; dir = dirname(dir)) {
    const candidate = join(dir, 'tsconfig.json');
    if (existsSync(candidate)) return candidate;
    if (existsSync(join(dir, 'package.json')) || dir === dirname(dir)) return undefined;
  }
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
