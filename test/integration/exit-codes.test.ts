import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { waitFor } from '../helpers/wait-for.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
/** Where each server engine's restore tool is configured; SQLite restores need no tool. */
const RESTORE_TOOL_ENV = { postgres: 'TENANTCTL_PG_RESTORE', mysql: 'TENANTCTL_MYSQL_CLIENT' } as const;

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`exit codes and the JSON error shape on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    /** Runs with --json; the exit code, and stdout as one JSON document. */
    const run = async (args: string[], env: Record<string, string> = {}) => {
      const { result, data } = await ws.json(args, env);
      return { code: result.code, data, stderr: result.stderr };
    };
    const errorShape = (code: string) => ({ ok: false, error: { code, message: expect.any(String) } });

    it('walks the table in the README: 0 ok, 1 failed, 2 usage, 3 not found, 4 conflict, 5 unreachable, 6 locked, 7 environment', async () => {
      const slug = ws.slug();
      const ok = await run(['create', slug]);
      expect(ok.code, ok.stderr).toBe(0);

      // 1: it ran and failed; the result says so and the exit code follows.
      const failed = await run(['migrate-all'], { TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'broken-migrations') });
      expect(failed.code).toBe(1);
      expect(failed.data).toMatchObject({ ok: false, counts: { failed: 1 } });

      // 2: bad input, and commander's own usage errors, in the JSON error shape.
      expect(await run(['create', 'Not A Slug'])).toMatchObject({ code: 2, data: errorShape('usage') });
      expect(await run(['list', '--no-such-flag'])).toMatchObject({ code: 2, data: errorShape('usage') });
      expect(await run(['migrate-all', '--wait', 'soon'])).toMatchObject({ code: 2, data: errorShape('usage') });

      expect(await run(['show', ws.slug()])).toMatchObject({ code: 3, data: errorShape('not_found') });
      expect(await run(['create', slug])).toMatchObject({ code: 4, data: errorShape('conflict') });
      expect(
        await run(['list'], { TENANTCTL_REGISTRY_URL: 'postgres://postgres@127.0.0.1:1/tenantctl' }),
      ).toMatchObject({ code: 5, data: errorShape('unreachable') });

      // 6: a create still running holds the tenant; delete must not start under it.
      const busy = ws.slug();
      // Replayed: from a template, the migrations run in the template's build, not at this step.
      const slow = ws.start(['create', busy, '--no-seed', '--replay'], {
        TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'slow-migrations'),
        SLOW_MIGRATION_MS: '60000',
      });
      try {
        await waitFor(async () => (await ws.json(['show', busy])).data?.step === 'migrations');
        expect(await run(['delete', busy, '--yes'])).toMatchObject({ code: 6, data: errorShape('locked') });
      } finally {
        slow.child.kill('SIGKILL');
        await slow.done;
      }

      // 7: a tool this machine lacks is not a usage error.
      if (engine !== 'sqlite') {
        expect((await ws.run(['backup', slug])).code).toBe(0);
        const missing = await run(['restore', slug, '--force'], {
          [RESTORE_TOOL_ENV[engine]]: '/nonexistent/restore-tool',
        });
        expect(missing).toMatchObject({ code: 7, data: errorShape('environment') });
        expect(missing.data.error.message).toMatch(/not found: install/);
      }
    }, 180_000); // many CLI runs: minutes on a loaded machine
  });
}

describe('a large result through a pipe', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = new Workspace('sqlite');
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it('reaches its reader whole before tenantctl exits', async () => {
    // 3 MB of metadata in two updates (one argument list holds about 2 MB): `show --json` writes
    // it at once, more than a pipe takes; Node queues the rest, and exiting then cut it at 64 KB.
    const slug = ws.slug('pipe');
    expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
    const value = 'x'.repeat(100_000);
    for (const part of ['a', 'b']) {
      const sets = Array.from({ length: 15 }, (_, i) => ['--set', `${part}${i}=${value}`]).flat();
      const updated = await ws.run(['update', slug, ...sets]);
      expect(updated.code, updated.stderr).toBe(0);
    }
    const { result, data } = await ws.json(['show', slug]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.length).toBeGreaterThan(3_000_000);
    expect(data.metadata.b14).toBe(value);
  });
});
