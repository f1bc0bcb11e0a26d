import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { SERVER_URLS, type TestEngine } from './engines.js';
import { runCli, startCli, type CliResult } from './cli.js';
import { probeFor, type ServerProbe } from './server-probe.js';
import { waitFor } from './wait-for.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = join(REPO, 'test', 'fixtures');

export interface WorkspaceOptions {
  /** Extra environment for every CLI run (e.g. TENANTCTL_REGISTRY_URL). */
  env?: Record<string, string | undefined>;
}

/**
 * An operator's project in a temporary directory: the example migrations and seeds copied in,
 * tenantctl's embedded registry under it, pointed at one engine's server. Every slug it hands
 * out is unique, and `cleanup` drops every database and user its tenants may have left.
 */
export class Workspace {
  readonly dir: string;
  readonly probe: ServerProbe;
  readonly env: Record<string, string | undefined>;
  private readonly slugs: string[] = [];

  constructor(
    readonly engine: TestEngine,
    options: WorkspaceOptions = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `tenantctl-${engine}-`));
    cpSync(join(REPO, 'migrations'), join(this.dir, 'migrations'), { recursive: true });
    cpSync(join(REPO, 'seeds'), join(this.dir, 'seeds'), { recursive: true });
    // The shared test servers are not configured for replication: their moves go offline, saying
    // why (moveMode: auto). test/integration/online-move.test.ts moves online between its own.
    this.env = {
      TENANTCTL_SERVER_URL: engine === 'sqlite' ? undefined : SERVER_URLS[engine],
      TENANTCTL_MOVE_MODE: 'auto',
      ...options.env,
    };
    this.probe = probeFor(engine, join(this.dir, '.tenantctl', 'tenants'));
  }

  /** A fresh slug, unique across test runs sharing a server. */
  slug(prefix = 't'): string {
    const slug = `${prefix}${randomBytes(4).toString('hex')}`;
    this.slugs.push(slug);
    return slug;
  }

  /** The names the default template gives a slug. */
  names(slug: string): { database: string; user: string | null } {
    const name = `tenant_${slug.replaceAll('-', '_')}`;
    return { database: name, user: this.engine === 'sqlite' ? null : name };
  }

  run(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
    return runCli(args, { cwd: this.dir, env: { ...this.env, ...env } });
  }

  start(args: string[], env: Record<string, string | undefined> = {}) {
    return startCli(args, { cwd: this.dir, env: { ...this.env, ...env } });
  }

  /**
   * Runs the command until it reaches `step` (TENANTCTL_TEST_PAUSE_AT, see hooked-tenantctl.mjs),
   * then kills it with -9: the run a test resumes or abandons afterwards.
   */
  async killAtStep(args: string[], step: string, env: Record<string, string | undefined> = {}) {
    const running = await this.startPausedAt(args, step, 600_000, env);
    running.child.kill('SIGKILL');
    return running.done;
  }

  /**
   * Starts the command and resolves once it has reached `step` (TENANTCTL_TEST_PAUSE_AT), where it
   * waits `pauseMs` before it goes on: the test does something meanwhile, then awaits `done`.
   */
  async startPausedAt(args: string[], step: string, pauseMs: number, env: Record<string, string | undefined> = {}) {
    const running = this.start(args, {
      ...env,
      TENANTCTL_TEST_PAUSE_AT: step,
      TENANTCTL_TEST_PAUSE_MS: String(pauseMs),
    });
    let stderr = '';
    running.child.stderr!.on('data', (chunk) => (stderr += chunk));
    await waitFor(async () => stderr.includes(`TENANTCTL_TEST_PAUSED ${step}`), 60_000);
    return running;
  }

  /** Runs with --json and parses stdout, which must hold nothing but the JSON document. */
  async json<T = any>(
    args: string[],
    env: Record<string, string | undefined> = {},
  ): Promise<{ result: CliResult; data: T }> {
    const result = await this.run([...args, '--json'], env);
    return { result, data: JSON.parse(result.stdout) as T };
  }

  async cleanup(): Promise<void> {
    // The schema templates its creates built live on the shared servers, under names of their own.
    if (existsSync(join(this.dir, '.tenantctl')) || this.env.TENANTCTL_REGISTRY_URL)
      await this.run(['template', 'drop']).catch(() => undefined);
    for (const slug of this.slugs) {
      const { database, user } = this.names(slug);
      await this.probe.drop(database, user).catch(() => undefined);
    }
    await this.probe.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
