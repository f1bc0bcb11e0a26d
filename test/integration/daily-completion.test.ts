import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { Workspace } from '../helpers/workspace.js';

/** Completion reads only the registry's names: SQLite proves it for every engine. */
describe('tenantctl completion', () => {
  let ws: Workspace;
  let slug: string;
  beforeAll(async () => {
    ws = new Workspace('sqlite');
    slug = ws.slug('dc');
    expect((await ws.run(['create', slug])).code).toBe(0);
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  /** What bash offers for the words typed so far (the last one being completed), with the script loaded. */
  const complete = async (...typed: string[]) => {
    const script = join(ws.dir, 'completion.bash');
    writeFileSync(script, (await ws.run(['completion', 'bash'])).stdout);
    const words = ['tenantctl', ...typed].map((w) => `'${w}'`).join(' ');
    const out = execFileSync(
      'bash',
      [
        '-c',
        `source ${script}; COMP_WORDS=(${words}); COMP_CWORD=${typed.length}; _tenantctl; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { cwd: ws.dir, env: { ...process.env, ...ws.env, PATH: `${dirname(BIN)}:${process.env.PATH}` } },
    );
    return out.toString().split('\n').filter(Boolean).sort();
  };

  it('completes commands, subcommands, flags, tenant slugs and server names in bash', async () => {
    expect(await complete('mig')).toEqual(['migrate', 'migrate-all', 'migrate-status']);
    expect(await complete('server', 'dr')).toEqual(['drain']);
    expect(await complete('delete', '--dry')).toEqual(['--dry-run']);
    expect(await complete('show', '')).toEqual([slug]);
    expect(await complete('move', slug, '--to', '')).toEqual(['sqlite-local']);
    // The global flags go with every command.
    expect(await complete('list', '--js')).toEqual(['--json']);
  });

  it('keeps the names briefly, so a new tenant shows once the cache is older than 30 s', async () => {
    const cache = join(ws.dir, '.tenantctl', 'completion-names.json');
    expect((await ws.run(['__complete-names', 'tenants'])).stdout.trim()).toBe(slug);
    const second = ws.slug('dc');
    expect((await ws.run(['create', second])).code).toBe(0);
    expect((await ws.run(['__complete-names', 'tenants'])).stdout.trim()).toBe(slug);
    writeFileSync(cache, JSON.stringify({ at: Date.now() - 31_000, tenants: [], servers: [] }));
    expect((await ws.run(['__complete-names', 'tenants'])).stdout.trim().split('\n').sort()).toEqual(
      [slug, second].sort(),
    );
  });

  it('prints zsh and fish scripts, and refuses another shell (exit 2)', async () => {
    const zsh = (await ws.run(['completion', 'zsh'])).stdout;
    expect(zsh).toContain('bashcompinit');
    expect(zsh).toContain('complete -F _tenantctl tenantctl');
    const fish = (await ws.run(['completion', 'fish'])).stdout;
    expect(fish).toContain("complete -c tenantctl -n '__fish_use_subcommand' -a 'init create");
    expect(fish).toContain('(tenantctl __complete-names tenants 2>/dev/null)');
    expect(fish).not.toContain('__complete-names tenants migrate');
    expect((await ws.run(['completion', 'powershell'])).code).toBe(2);
  });

  // .ci/run installs zsh and fish: the scripts are loaded by the real shells, not only read.
  it('fish offers the commands and the slugs; zsh loads its script', async () => {
    const env = { ...process.env, ...ws.env, PATH: `${dirname(BIN)}:${process.env.PATH}` };
    const fishScript = join(ws.dir, 'completion.fish');
    writeFileSync(fishScript, (await ws.run(['completion', 'fish'])).stdout);
    const fish = (typed: string) =>
      execFileSync('fish', ['-c', `source ${fishScript}; complete -C '${typed}'`], { cwd: ws.dir, env })
        .toString()
        .split('\n')
        .map((line) => line.split('\t')[0])
        .filter(Boolean);
    expect(fish('tenantctl mig').sort()).toEqual(['migrate', 'migrate-all', 'migrate-status']);
    expect(fish('tenantctl show ')).toContain(slug);
    const zshScript = join(ws.dir, 'completion.zsh');
    writeFileSync(zshScript, (await ws.run(['completion', 'zsh'])).stdout);
    const zsh = execFileSync(
      'zsh',
      ['-c', `autoload -Uz compinit && compinit -u && source ${zshScript} && echo loaded`],
      {
        cwd: ws.dir,
        env,
      },
    );
    expect(zsh.toString().trim().split('\n').at(-1)).toBe('loaded');
  });

  it('creates no registry where there is none', async () => {
    const empty = new Workspace('sqlite');
    try {
      const result = await empty.run(['__complete-names', 'tenants']);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('');
      expect(execFileSync('ls', ['-a', empty.dir]).toString()).not.toContain('.tenantctl');
    } finally {
      await empty.cleanup();
    }
  });
});
