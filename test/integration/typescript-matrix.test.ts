import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspace } from '../helpers/workspace.js';

/**
 * Every cell of {CommonJS package, ES module package} × {.js, .cjs, .mjs, .ts, .cts, .mts}: a
 * migration and a seed of that kind, importing the project's own TypeScript modules (an enum, an
 * interface by `import type`, a relative import without and with its extension, a tsconfig
 * `paths` alias), run unchanged by `create` on SQLite. `.ci/other-nodes` runs this file on Node 22
 * and 24 too.
 */
const PACKAGES = ['commonjs', 'module'] as const;
const EXTENSIONS = ['js', 'cjs', 'mjs', 'ts', 'cts', 'mts'] as const;
type Package = (typeof PACKAGES)[number];
type Extension = (typeof EXTENSIONS)[number];

/** Whether a file of this extension is an ES module in this package (as Node decides). */
const isEsm = (pkg: Package, ext: Extension) =>
  ext === 'mjs' || ext === 'mts' || (pkg === 'module' && (ext === 'js' || ext === 'ts'));

/** The migration's and the seed's source for one cell: the same work, in that file's own dialect. */
function sources(pkg: Package, ext: Extension): { migration: string; seed: string } {
  const typescript = ext.endsWith('ts');
  const esm = isEsm(pkg, ext);
  const table = `members_${ext}`;
  if (typescript) {
    // TypeScript: import type, an enum, relative imports with and without extension, a paths alias.
    const imports = `import type { Knex } from 'knex';
import { Role, type Member } from '../src/roles';
import { label } from '../src/util.ts';
import { TABLE_PREFIX } from '@app/roles';
`;
    return {
      migration: `${imports}
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable(TABLE_PREFIX + '${ext}', (t) => {
    t.string('email');
    t.string('role');
    t.string('label');
  });
  if (Role.Admin !== 'admin' || label(Role.Member) !== 'role:member') throw new Error('wrong imports');
}
export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('${table}');
}
`,
      seed: `${imports}
export async function seed(knex: Knex): Promise<void> {
  const member: Member = { email: 'ada@example.test', role: Role.Admin };
  await knex(TABLE_PREFIX + '${ext}').insert({ ...member, label: label(member.role) });
}
`,
    };
  }
  if (esm) {
    const imports = `import { Role } from '../src/roles.ts';
import { label } from '@app/util';
import { TABLE_PREFIX } from '../src/roles';
`;
    return {
      migration: `${imports}
export async function up(knex) {
  await knex.schema.createTable(TABLE_PREFIX + '${ext}', (t) => {
    t.string('email');
    t.string('role');
    t.string('label');
  });
  if (Role.Admin !== 'admin' || label(Role.Member) !== 'role:member') throw new Error('wrong imports');
}
export async function down(knex) {
  await knex.schema.dropTable('${table}');
}
`,
      seed: `${imports}
export async function seed(knex) {
  await knex(TABLE_PREFIX + '${ext}').insert({ email: 'ada@example.test', role: Role.Admin, label: label(Role.Admin) });
}
`,
    };
  }
  const requires = `const { Role } = require('../src/roles.ts');
const { label } = require('@app/util');
const { TABLE_PREFIX } = require('../src/roles');
`;
  return {
    migration: `${requires}
exports.up = async (knex) => {
  await knex.schema.createTable(TABLE_PREFIX + '${ext}', (t) => {
    t.string('email');
    t.string('role');
    t.string('label');
  });
  if (Role.Admin !== 'admin' || label(Role.Member) !== 'role:member') throw new Error('wrong imports');
};
exports.down = async (knex) => knex.schema.dropTable('${table}');
`,
    seed: `${requires}
exports.seed = async (knex) => {
  await knex(TABLE_PREFIX + '${ext}').insert({ email: 'ada@example.test', role: Role.Admin, label: label(Role.Admin) });
};
`,
  };
}

/** A project laid out as a TypeScript backend is: package.json, tsconfig.json with paths, src/, one cell's files. */
function project(root: string, pkg: Package, ext: Extension): string {
  const dir = join(root, `${pkg}-${ext}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  mkdirSync(join(dir, 'migrations'));
  mkdirSync(join(dir, 'seeds'));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `app-${pkg}-${ext}`, version: '1.0.0', private: true, type: pkg }),
  );
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: pkg === 'commonjs' ? 'commonjs' : 'nodenext',
        moduleResolution: pkg === 'commonjs' ? 'node' : 'nodenext',
        target: 'es2022',
        strict: true,
        esModuleInterop: true,
        allowImportingTsExtensions: true,
        noEmit: true,
        baseUrl: '.',
        paths: { '@app/*': ['src/*'] },
      },
    }),
  );
  writeFileSync(
    join(dir, 'src', 'roles.ts'),
    `export enum Role {
  Admin = 'admin',
  Member = 'member',
}
export interface Member {
  email: string;
  role: Role;
}
export const TABLE_PREFIX = 'members_';
`,
  );
  writeFileSync(
    join(dir, 'src', 'util.ts'),
    `import { Role } from './roles';
export const label = (role: Role): string => 'role:' + role;
`,
  );
  const { migration, seed } = sources(pkg, ext);
  writeFileSync(join(dir, 'migrations', `20240101000000_members.${ext}`), migration);
  writeFileSync(join(dir, 'seeds', `01_members.${ext}`), seed);
  return dir;
}

describe('TypeScript projects: every package type × migration and seed extension, on SQLite', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = new Workspace('sqlite');
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  for (const pkg of PACKAGES) {
    for (const ext of EXTENSIONS) {
      it(`a ${pkg} package's .${ext} migration and seed importing its own .ts modules`, async () => {
        const dir = project(ws.dir, pkg, ext);
        const slug = ws.slug();
        const { result, data } = await ws.json([
          'create',
          slug,
          '--migrations-dir',
          join(dir, 'migrations'),
          '--seeds-dir',
          join(dir, 'seeds'),
        ]);
        expect(result.code, result.stdout + result.stderr).toBe(0);
        expect(data.migrations).toEqual([`20240101000000_members.${ext}`]);
        expect(data.seeds).toEqual([`01_members.${ext}`]);
        const db = ws.probe.admin(ws.names(slug).database);
        try {
          expect(await db(`members_${ext}`).select('*')).toEqual([
            { email: 'ada@example.test', role: 'admin', label: 'role:admin' },
          ]);
        } finally {
          await db.destroy();
        }
      }, 60_000);
    }
  }
});
