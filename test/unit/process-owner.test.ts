import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ownerState, processOwner } from '../../src/core/process-owner.js';
import { processState, startUnreaped } from '../helpers/unreaped-child.js';
import { waitFor } from '../helpers/wait-for.js';

describe.skipIf(process.platform !== 'linux')('whether the process that owns some work is alive (Linux /proc)', () => {
  it('this process is alive, with a start time', () => {
    const me = processOwner();
    expect(me).toMatchObject({ host: hostname(), pid: process.pid, start: expect.stringMatching(/\/\d+$/) });
    expect(ownerState(me)).toBe('alive');
  });

  it('a live process with the recorded pid but another start time (a recycled pid) is gone', async () => {
    const sleeper = await startUnreaped(['sleep', '60']);
    try {
      const owner = processOwner(sleeper.pid);
      expect(ownerState(owner)).toBe('alive');
      expect(ownerState({ ...owner, start: `${owner.start}0` })).toBe('gone');
    } finally {
      await sleeper.reap();
    }
  });

  it('a killed process its parent has not reaped (a zombie) is gone, though signal 0 still reaches it', async () => {
    const sleeper = await startUnreaped(['sleep', '60']);
    const owner = processOwner(sleeper.pid);
    try {
      process.kill(sleeper.pid, 'SIGKILL');
      await waitFor(async () => processState(sleeper.pid) === 'Z');
      expect(() => process.kill(sleeper.pid, 0)).not.toThrow();
      expect(ownerState(owner)).toBe('gone');
    } finally {
      await sleeper.reap();
    }
    expect(ownerState(owner)).toBe('gone');
  });

  it("another host's process is unknown, never taken for gone", () => {
    expect(ownerState({ host: `not-${hostname()}`, pid: 1, start: null })).toBe('unknown');
  });
});
