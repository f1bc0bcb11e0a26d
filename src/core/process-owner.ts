import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Which process does a piece of work: enough to tell later whether it is still alive. */
export interface ProcessOwner {
  host: string;
  pid: number;
  /**
   * When the process started, as the kernel counts it (Linux: boot id and start time in clock
   * ticks from /proc/<pid>/stat), so a recycled pid is told apart; null where it is not known.
   */
  start: string | null;
}

/** Whether an owner is alive: `unknown` for another host's process, which this machine cannot see. */
export type OwnerState = 'alive' | 'gone' | 'unknown';

let bootId: string | null | undefined;

/** State (field 3) and start time (field 22) of a pid from /proc; null if there is no such process. */
function procStat(pid: number): { state: string; start: string } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  bootId ??= readBootId();
  return { state: fields[0]!, start: `${bootId ?? ''}/${fields[19]}` };
}

function readBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/** Whether this machine has a Linux-style /proc to ask. */
const hasProc = (): boolean => procStat(process.pid) !== null;

/** The owner record of a process of this machine (`process.pid` by default). */
export function processOwner(pid = process.pid): ProcessOwner {
  return { host: hostname(), pid, start: procStat(pid)?.start ?? null };
}

/**
 * Whether the process that owns some work still runs. A zombie (killed, not yet reaped by its
 * parent) is gone, and so is a live process that merely got the same pid later (another start
 * time). Without /proc, a pid that answers signal 0 counts as alive.
 */
export function ownerState(owner: ProcessOwner): OwnerState {
  if (owner.host !== hostname()) return 'unknown';
  if (hasProc()) {
    const stat = procStat(owner.pid);
    if (!stat || stat.state === 'Z' || stat.state === 'X') return 'gone';
    return owner.start === null || owner.start === stat.start ? 'alive' : 'gone';
  }
  try {
    process.kill(owner.pid, 0);
    return 'alive';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'gone';
  }
}
