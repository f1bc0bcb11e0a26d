import type { Command } from 'commander';
import { ExitCode, type ExitCodeValue } from '../core/errors.js';

/**
 * The exit code a command that ran to the end reports (e.g. 1 for migrate-all with a failed
 * tenant), kept per program rather than in the global `process.exitCode`, so `main` decides it
 * from what the command returned.
 */
const reported = new WeakMap<Command, ExitCodeValue>();

function root(command: Command): Command {
  let top = command;
  while (top.parent) top = top.parent;
  return top;
}

export function reportExit(command: Command, code: ExitCodeValue): void {
  reported.set(root(command), code);
}

export function reportedExit(program: Command): ExitCodeValue {
  return reported.get(program) ?? ExitCode.ok;
}
