import { Transform, type TransformCallback } from 'node:stream';
import { TenantctlError } from '../core/errors.js';

/** A SQL file holds something the mysql client would run on this machine rather than send to the server. */
export class ClientCommandError extends TenantctlError {}

/**
 * The line MariaDB's dump tools write first: a client that knows it turns on its sandbox, in
 * which commands that reach the file system or a shell are refused. The one backslash allowed.
 */
export const SANDBOX_MARKER = '/*M!999999\\- enable the sandbox mode */';

/**
 * The mysql client's own commands by their long names, recognised at the start of a statement.
 * `delimiter` is the one a dump needs (routines, triggers): it is followed, not refused.
 */
const CLIENT_COMMANDS = new Set([
  'charset',
  'clear',
  'connect',
  'edit',
  'ego',
  'exit',
  'go',
  'help',
  'nopager',
  'notee',
  'nowarning',
  'pager',
  'print',
  'prompt',
  'query_attributes',
  'quit',
  'rehash',
  'resetconnection',
  'source',
  'status',
  'system',
  'tee',
  'use',
  'warnings',
]);

type State = 'code' | 'single' | 'double' | 'backtick' | 'line-comment' | 'block-comment';

/**
 * One reading of a SQL text, character by character, as the mysql client splits it: strings
 * (`'`, `"`, with backslash escapes), identifiers (backticks), comments, statements ended by the
 * current delimiter. Clients differ on whether an executable comment (`/*!…*\/`) is code or a
 * comment, so the check reads the text both ways (`executableIsCode`).
 */
class ClientCommandScanner {
  private state: State = 'code';
  private delimiter = ';';
  private tail = '';
  /** Whether no part of the current statement has been read yet (whitespace and comments aside). */
  private atStart = true;
  /** The first word of the statement, while it is being read. */
  private head = '';
  private delimiterLine: string | undefined;
  private escaped = false;
  private pending = '';
  private comment = { executable: false };

  constructor(private readonly executableIsCode: boolean) {}

  /** Reads one character; returns what is wrong, or undefined. */
  read(c: string): string | undefined {
    if (this.delimiterLine !== undefined) return this.readDelimiter(c);
    // Two-character tokens (`--`, `/*`, `*/`): the first waits for the second.
    if (this.pending) {
      const pair = this.pending + c;
      this.pending = '';
      const taken = this.pair(pair);
      if (taken !== false) return taken;
      const first = this.single(pair[0]!);
      if (first) return first;
    }
    if ((this.state === 'code' && (c === '-' || c === '/')) || (this.state === 'block-comment' && c === '*')) {
      this.pending = c;
      return undefined;
    }
    return this.single(c);
  }

  /** At the end of the text: what a last, unfinished statement holds. */
  end(): string | undefined {
    if (this.pending) {
      const last = this.single(this.pending);
      this.pending = '';
      if (last) return last;
    }
    return this.atStart && this.head ? this.endOfHead(' ') : undefined;
  }

  /** A two-character token, or false when `pair` is none. */
  private pair(pair: string): string | undefined | false {
    if (this.state === 'code' && /^--[\s\x00-\x1f]$/.test(pair)) {
      this.state = 'line-comment';
      return this.single(pair[1]!) ?? undefined;
    }
    if (this.state === 'code' && pair === '/*') {
      this.state = 'block-comment';
      this.comment = { executable: false };
      return undefined;
    }
    if (this.state === 'block-comment' && pair === '*/') {
      this.state = 'code';
      return undefined;
    }
    return false;
  }

  private single(c: string): string | undefined {
    switch (this.state) {
      case 'single':
      case 'double':
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if ((this.state === 'single' && c === "'") || (this.state === 'double' && c === '"')) this.state = 'code';
        return undefined;
      case 'backtick':
        if (c === '`') this.state = 'code';
        return undefined;
      case 'line-comment':
        if (c === '\\') return 'a backslash command inside a comment';
        if (c === '\n') this.state = 'code';
        return undefined;
      case 'block-comment':
        if (c === '\\') return 'a backslash command inside a comment';
        // `/*!…*/` (and MariaDB's `/*M!…*/`) hold SQL the server runs: one reading takes them as code.
        if (this.executableIsCode && (c === '!' || c === 'M') && !this.comment.executable) {
          this.comment.executable = true;
          this.state = 'code';
        }
        return undefined;
      case 'code':
        return this.code(c);
    }
  }

  private code(c: string): string | undefined {
    if (c === '\\') return 'a mysql client backslash command';
    if (this.atStart) {
      if (/[A-Za-z_]/.test(c)) {
        this.head += c;
        return undefined;
      }
      if (this.head) {
        const problem = this.endOfHead(c);
        if (problem || this.delimiterLine !== undefined) return problem;
      } else if (!/\s/.test(c) && c !== '#') this.atStart = false;
    }
    if (c === "'") this.state = 'single';
    else if (c === '"') this.state = 'double';
    else if (c === '`') this.state = 'backtick';
    else if (c === '#') this.state = 'line-comment';
    this.tail = (this.tail + c).slice(-this.delimiter.length);
    if (this.state === 'code' && this.tail === this.delimiter) {
      this.atStart = true;
      this.head = '';
      this.tail = '';
    }
    return undefined;
  }

  /** The first word of a statement is read: a client command is refused, DELIMITER followed. */
  private endOfHead(next: string): string | undefined {
    const word = this.head.toLowerCase();
    this.head = '';
    this.atStart = false;
    if (word === 'delimiter' && /\s/.test(next)) {
      this.delimiterLine = next === '\n' ? '' : next;
      if (next === '\n') return this.readDelimiter('\n');
      return undefined;
    }
    if (CLIENT_COMMANDS.has(word) && !/[A-Za-z0-9_(.]/.test(next)) return `the mysql client command "${word}"`;
    return undefined;
  }

  private readDelimiter(c: string): string | undefined {
    if (c !== '\n') {
      this.delimiterLine += c;
      return undefined;
    }
    const delimiter = this.delimiterLine!.trim();
    this.delimiterLine = undefined;
    if (!delimiter || delimiter.includes('\\')) return 'a DELIMITER line without a usable delimiter';
    this.delimiter = delimiter;
    this.atStart = true;
    this.tail = '';
    return undefined;
  }
}

/**
 * Passes a SQL stream through unchanged, and fails it at the first thing a mysql client would run
 * as a command of its own on this machine instead of sending it to the server: a backslash
 * command (`\!` runs a shell, `\.` reads a file, `\T` writes one) anywhere outside a quoted string
 * or identifier, comments included, and a long command (`system …`, `source …`) at the start of a
 * statement. It is the check for a client without `--sandbox` (Oracle's), so that a forged dump
 * is refused before any of it runs. Conservative: what a dump tool writes (data, schema,
 * `DELIMITER`, the sandbox marker as the first line) passes; anything else that may be a command
 * fails, however the client would read it.
 */
export function clientCommandCheck(what: string): Transform {
  const readings = [new ClientCommandScanner(true), new ClientCommandScanner(false)];
  let line = 1;
  let first: string | undefined = '';
  let held: Buffer[] = [];
  const feed = (text: string): Error | undefined => {
    for (const c of text) {
      for (const reading of readings) {
        const problem = reading.read(c);
        if (problem) return new ClientCommandError(`${what}, line ${line}: ${problem}`);
      }
      if (c === '\n') line++;
    }
    return undefined;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      let text = chunk.toString('latin1');
      if (first !== undefined) {
        // The first line is held until it is whole: the sandbox marker alone is let through.
        first += text;
        held.push(chunk);
        const newline = first.indexOf('\n');
        if (newline < 0 && first.length < 4096) return callback();
        const head = newline < 0 ? first : first.slice(0, newline);
        text = head.trimEnd() === SANDBOX_MARKER ? first.slice(head.length) : first;
        first = undefined;
        chunk = Buffer.concat(held);
        held = [];
      }
      // Nothing goes on before it is checked.
      const problem = feed(text);
      callback(problem ?? null, problem ? undefined : chunk);
    },
    flush(callback: TransformCallback) {
      if (first !== undefined) {
        const problem = first.trimEnd() === SANDBOX_MARKER ? undefined : feed(first);
        if (problem) return callback(problem);
        this.push(Buffer.concat(held));
      }
      for (const reading of readings) {
        const problem = reading.end();
        if (problem) return callback(new ClientCommandError(`${what}, line ${line}: ${problem}`));
      }
      callback();
    },
  });
}
