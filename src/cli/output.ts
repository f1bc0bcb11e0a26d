import { Chalk, type ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import { jsonDocument } from './render/json-document.js';
import type { Ora } from 'ora';

/** What commands do with a spinner: update its text, and end it. */
export type Spinner = Pick<Ora, 'text' | 'stop' | 'succeed' | 'fail'>;

/** ora is loaded only when a person will see a spinner (it costs ~60 ms of start-up). */
let ora: typeof import('ora').default | undefined;

/** Loads the spinner library; call before `spinner()` when `interactive`. */
export async function loadSpinners(): Promise<void> {
  ora ??= (await import('ora')).default;
}

/** The silent stand-in for a spinner nobody sees. */
function silentSpinner(text: string): Spinner {
  const self: Spinner = { text, stop: () => self as Ora, succeed: () => self as Ora, fail: () => self as Ora };
  return self;
}

/**
 * How this run talks: a person at a terminal gets colour and spinners on stderr; `--json` or a
 * piped stdout gets only the result on stdout, and progress nowhere.
 */
export class Output {
  readonly color: ChalkInstance;
  /** Spinners and progress lines are shown (stderr is a terminal and JSON was not asked for). */
  readonly interactive: boolean;

  constructor(
    readonly json: boolean,
    readonly verbose: boolean,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const noColor = (env.NO_COLOR !== undefined && env.NO_COLOR !== '') || json;
    this.color = new Chalk({ level: noColor || !process.stdout.isTTY ? 0 : 1 });
    this.interactive = !json && Boolean(process.stderr.isTTY) && env.CI === undefined;
  }

  /** The command's result: JSON with --json, else the human rendering. Always on stdout. */
  result(data: unknown, human: () => string): void {
    process.stdout.write(this.json ? `${JSON.stringify(jsonDocument(data), null, 2)}\n` : `${human()}\n`);
  }

  /** A remark for a person (a generated key file, a warning); stderr, so stdout stays clean. */
  notice(message: string): void {
    if (!this.json) process.stderr.write(`${message}\n`);
  }

  /** A warning: stderr, even under --json (stdout stays the result alone). */
  warn(message: string): void {
    process.stderr.write(`${this.color.yellow(message)}\n`);
  }

  /** A spinner on stderr when interactive; otherwise a silent stand-in with the same calls. */
  spinner(text: string): Spinner {
    if (!this.interactive || !ora) return silentSpinner(text);
    return ora({
      text,
      stream: process.stderr,
      isEnabled: this.interactive,
      isSilent: !this.interactive,
      discardStdin: false,
    }).start();
  }

  /**
   * A spinner per step: each new step marks the previous one done. `track` marks the last
   * step done or failed when the operation settles, and passes its result or error on.
   */
  steps(): { step(text: string): void; track<T>(operation: Promise<T>): Promise<T> } {
    let current: Spinner | undefined;
    return {
      step: (text) => {
        current?.succeed();
        current = this.spinner(text);
      },
      track: (operation) =>
        operation.then(
          (value) => {
            current?.succeed();
            return value;
          },
          (error: unknown) => {
            current?.fail();
            throw error;
          },
        ),
    };
  }

  table(head: string[], rows: Array<Array<string | number | null>>): string {
    const table = new Table({
      head: head.map((h) => this.color.bold(h)),
      style: { head: [], border: [] },
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const row of rows) table.push(row.map((cell) => (cell === null ? '' : String(cell))));
    return table.toString();
  }

  /** Aligned `key  value` lines, for one record. */
  fields(pairs: Array<[string, unknown]>): string {
    const width = Math.max(...pairs.map(([k]) => k.length));
    return pairs.map(([key, value]) => `  ${this.color.dim(key.padEnd(width))}  ${fieldText(value)}`).join('\n');
  }

  status(status: string): string {
    const paint: Record<string, (s: string) => string> = {
      active: this.color.green,
      suspended: this.color.yellow,
      provisioning: this.color.cyan,
      adopting: this.color.cyan,
      deleting: this.color.magenta,
      failed: this.color.red,
      deleted: this.color.dim,
    };
    return (paint[status] ?? ((s: string) => s))(status);
  }
}

/** One record field as text: nothing for a missing value, JSON for an object or a list. */
function fieldText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}
