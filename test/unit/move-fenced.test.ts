import { describe, expect, it } from 'vitest';
import { MOVE_STEPS, fencedByMove } from '../../src/registry/moves-repo.js';

describe('fencedByMove: the steps during which a move has taken the tenant login away', () => {
  it('is true from the fence until the unfence is done, on both modes, and false otherwise', () => {
    const fenced = MOVE_STEPS.filter((step) => fencedByMove(`move:${step}`));
    expect(fenced).toEqual(['fence', 'drain', 'unreplicate', 'copy', 'verify', 'switch', 'unfence']);
    // Before the fence (an online move's copy and catch-up) and while retiring, the tenant is served.
    for (const step of ['preflight', 'schema', 'replicate', 'catchup', 'retire'])
      expect(fencedByMove(`move:${step}`)).toBe(false);
    expect(fencedByMove(null)).toBe(false);
    expect(fencedByMove('suspend')).toBe(false);
    expect(fencedByMove('fence')).toBe(false); // only a move's own step
  });
});
