import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { validateWaveConfigs } from '../../src/config/wave-config.js';
import {
  parseCanary,
  parseFailureBudget,
  planWaves,
  type PlannableTenant,
} from '../../src/lifecycle/migrations/rollout-plan.js';

const fleet = (n: number): PlannableTenant[] =>
  Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    slug: `t${String(i).padStart(3, '0')}`,
    plan: i % 10 === 0 ? 'internal' : 'pro',
    metadata: JSON.stringify(i % 2 ? { region: 'eu' } : {}),
    server_name: i < n / 2 ? 'pg-1' : 'pg-2',
  }));

const shape = (waves: Array<{ name: string; tenants: PlannableTenant[] }>) =>
  waves.map((w) => [w.name, w.tenants.length]);

describe('planWaves', () => {
  it('without a spec, is one wave of everything', () => {
    expect(shape(planWaves(fleet(5), {}))).toEqual([['all', 5]]);
  });

  it('reads cumulative sizes and percentages of the selection', () => {
    const waves = planWaves(fleet(100), { waves: '1,10%,100%' });
    expect(shape(waves)).toEqual([
      ['1', 1],
      ['10%', 9],
      ['100%', 90],
    ]);
    expect(waves.map((w) => w.number)).toEqual([1, 2, 3]);
    // Every tenant once, in selection order.
    expect(waves.flatMap((w) => w.tenants.map((t) => t.id))).toEqual(fleet(100).map((t) => t.id));
  });

  it('gives tenants beyond the last size a last wave, and drops waves left empty', () => {
    expect(shape(planWaves(fleet(10), { waves: '1,5%,50%' }))).toEqual([
      ['1', 1],
      ['50%', 4],
      ['rest', 5],
    ]);
  });

  it('puts the canary first; the waves count it in their cumulative sizes', () => {
    const waves = planWaves(fleet(20), { canary: '2', waves: '50%,100%' });
    expect(shape(waves)).toEqual([
      ['canary', 2],
      ['50%', 8],
      ['100%', 10],
    ]);
    expect(waves[0]!.canary).toBe(true);
    expect(waves[0]!.tenants.map((t) => t.slug)).toEqual(['t000', 't001']);
  });

  it('takes a canary by slugs, plan, label or server', () => {
    expect(planWaves(fleet(10), { canary: 't003,t007' })[0]!.tenants.map((t) => t.slug)).toEqual(['t003', 't007']);
    expect(planWaves(fleet(30), { canary: 'plan=internal' })[0]!.tenants.map((t) => t.slug)).toEqual([
      't000',
      't010',
      't020',
    ]);
    expect(planWaves(fleet(6), { canary: 'label=region=eu' })[0]!.tenants.map((t) => t.slug)).toEqual([
      't001',
      't003',
      't005',
    ]);
    expect(planWaves(fleet(4), { canary: 'server=pg-2' })[0]!.tenants.map((t) => t.slug)).toEqual(['t002', 't003']);
  });

  it('plans waves from the config file, each taking what earlier ones left', () => {
    const waves = planWaves(fleet(20), {
      waves: [
        { name: 'internal', select: { plans: ['internal'] }, concurrency: 1 },
        { name: 'eu', select: { labels: { region: 'eu' } } },
        { select: { servers: ['pg-1'] } },
      ],
    });
    expect(shape(waves)).toEqual([
      ['internal', 2],
      ['eu', 10],
      ['wave 3', 4],
      ['rest', 4],
    ]);
    expect(waves[0]!.concurrency).toBe(1);
  });

  it('matches a label by its scalar value only: a number or boolean as text, never an object', () => {
    const tenants: PlannableTenant[] = [
      { seats: 5, trial: true },
      { seats: '5', trial: 'true' },
      { seats: { n: 5 }, trial: null },
      {},
    ].map((metadata, i) => ({
      id: i + 1,
      slug: `m${i}`,
      plan: null,
      metadata: JSON.stringify(metadata),
      server_name: 'pg-1',
    }));
    const canary = (label: string) => planWaves(tenants, { canary: label })[0]!.tenants.map((t) => t.slug);
    expect(canary('label=seats=5')).toEqual(['m0', 'm1']);
    expect(canary('label=trial=true')).toEqual(['m0', 'm1']);
    expect(() => planWaves(tenants, { canary: 'label=seats=[object Object]' })).toThrow(/no selected tenant/);
  });

  it('refuses sizes that do not grow, unknown canary slugs and a canary matching nothing', () => {
    expect(() => planWaves(fleet(10), { waves: '5,2' })).toThrow(UsageError);
    expect(() => planWaves(fleet(10), { waves: '10%,abc' })).toThrow(/abc/);
    expect(() => planWaves(fleet(10), { waves: '0' })).toThrow(UsageError);
    expect(() => planWaves(fleet(10), { canary: 'nope' })).toThrow(/nope/);
    expect(() => planWaves(fleet(10), { canary: 'plan=enterprise' })).toThrow(/no selected tenant/);
  });
});

describe('parseCanary', () => {
  it('reads each form', () => {
    expect(parseCanary('3')).toEqual({ count: 3 });
    expect(parseCanary('a,b')).toEqual({ slugs: ['a', 'b'] });
    expect(parseCanary('plan=internal,beta')).toEqual({ plans: ['internal', 'beta'] });
    expect(parseCanary('label=tier=gold')).toEqual({ labels: { tier: 'gold' } });
    expect(parseCanary('server=pg-1')).toEqual({ servers: ['pg-1'] });
  });

  it.each(['0', '', 'color=red', 'label=novalue'])('rejects %j', (text) => {
    expect(() => parseCanary(text)).toThrow(UsageError);
  });
});

describe('validateWaveConfigs', () => {
  it.each([
    [[], /non-empty/],
    [[{ select: { plan: ['x'] } }], /unknown key "plan"/],
    [[{ select: {}, concurrency: 0 }], /concurrency/],
    [[{ select: { plans: 'x' } }], /plans/],
    [[{ name: 'x' }], /select/],
  ])('rejects %j', (value, message) => {
    expect(() => validateWaveConfigs(value)).toThrow(message);
  });
});

describe('parseFailureBudget', () => {
  it('reads counts and percentages of the selection (at least 1)', () => {
    expect(parseFailureBudget('2', 100)).toBe(2);
    expect(parseFailureBudget('5%', 100)).toBe(5);
    expect(parseFailureBudget('5%', 10)).toBe(1);
    expect(parseFailureBudget('1%', 0)).toBe(1);
  });

  it.each(['0', '-1', 'x', '150%', '0%'])('rejects %j', (text) => {
    expect(() => parseFailureBudget(text, 10)).toThrow(UsageError);
  });
});
