import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';

const METHODS = ['log', 'info', 'warn', 'error', 'debug'] as const;
type Method = (typeof METHODS)[number];

/** Most lines a tenant's log keeps for its result, and the longest line kept. */
export const LOG_MAX_LINES = 100;
export const LOG_MAX_LINE = 1000;

/** Where user code's console output goes: the CLI sends it to stderr. Unset, to the console as before. */
let sink: ((text: string) => void) | undefined;

/** Sends what migrations and seeds print to `write` (the CLI: stderr, so stdout stays the result). */
export function setUserConsoleSink(write: ((text: string) => void) | undefined): void {
  sink = write;
}

const scopes = new AsyncLocalStorage<UserConsole>();
let active = 0;
let originals: Record<Method, (...args: unknown[]) => void> | undefined;

/**
 * What one tenant's migrations and seeds print through `console`, kept (capped) for its result
 * and passed on to the sink, each line prefixed `[label] ` when a label is given (several tenants
 * at once). Tracked through async context, so tenants run side by side never mix their lines;
 * console calls outside any scope (tenantctl's own) are untouched.
 */
export class UserConsole {
  readonly lines: string[] = [];
  private dropped = 0;

  constructor(private readonly label?: string) {}

  /** Runs `fn` with console output caught as this scope's. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (active++ === 0) install();
    try {
      return await scopes.run(this, fn);
    } finally {
      // Code abandoned at a deadline keeps the patch up until it settles, so it stays caught.
      if (--active === 0) uninstall();
    }
  }

  /** `log` for a result: the lines kept, and how many more there were; undefined when none. */
  log(): string[] | undefined {
    if (this.lines.length === 0) return undefined;
    return this.dropped ? [...this.lines, `… ${this.dropped} more lines`] : [...this.lines];
  }

  write(method: Method, text: string): void {
    for (const line of text.split('\n')) {
      if (this.lines.length < LOG_MAX_LINES) this.lines.push(line.slice(0, LOG_MAX_LINE));
      else this.dropped++;
    }
    const shown = this.label ? text.replace(/^/gm, `[${this.label}] `) : text;
    if (sink) sink(`${shown}\n`);
    else originals![method].call(console, shown);
  }
}

function install(): void {
  originals = Object.fromEntries(METHODS.map((m) => [m, console[m]])) as typeof originals;
  for (const method of METHODS) {
    const original = originals![method];
    console[method] = (...args: unknown[]) => {
      const scope = scopes.getStore();
      if (scope) scope.write(method, format(...args));
      else original.apply(console, args);
    };
  }
}

function uninstall(): void {
  for (const method of METHODS) console[method] = originals![method];
  originals = undefined;
}
