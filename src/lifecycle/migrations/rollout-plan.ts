import { UsageError } from '../../core/errors.js';
import { metadataText } from '../../core/metadata-value.js';
import { validateWaveConfigs, type WaveConfig, type WaveSelect } from '../../config/wave-config.js';

/** What a staged rollout was asked for; stored in the run's options, so `--resume` plans the same waves. */
export interface RolloutSpec {
  /** `--canary`: a count (`2`), slugs (`a,b`) or a selection (`plan=x`, `label=k=v`, `server=name`). */
  canary?: string;
  /** `--waves 1,10%,100%` (cumulative sizes), or the config file's waves. */
  waves?: string | WaveConfig[];
}

/** The fields of a tenant that waves select on. */
export interface PlannableTenant {
  id: number;
  slug: string;
  plan: string | null;
  /** JSON object of the tenant's metadata. */
  metadata: string;
  server_name: string;
}

export interface Wave<T> {
  /** 1-based, in running order. */
  number: number;
  name: string;
  /** The canary: a failure in it halts the run whatever the budget. */
  canary: boolean;
  concurrency?: number;
  tenants: T[];
}

/** Parses `--canary`: a count, a list of slugs, or `plan=`, `label=k=v`, `server=` selections. */
export function parseCanary(text: string): { count: number } | WaveSelect {
  const value = text.trim();
  if (/^\d+$/.test(value)) {
    const count = Number(value);
    if (count < 1) throw new UsageError('--canary: expected at least 1 tenant');
    return { count };
  }
  const selection = /^(plan|label|server)=(.+)$/.exec(value);
  if (selection) {
    const [, key, rest] = selection as unknown as [string, string, string];
    if (key === 'label') {
      const pair = /^([^=]+)=(.*)$/.exec(rest);
      if (!pair) throw new UsageError(`--canary ${text}: expected label=key=value`);
      return { labels: { [pair[1]!]: pair[2]! } };
    }
    const values = splitList(rest);
    return key === 'plan' ? { plans: values } : { servers: values };
  }
  const slugs = splitList(value);
  if (!slugs.length || slugs.some((s) => s.includes('='))) {
    throw new UsageError(`--canary ${text}: expected a count, slugs (a,b), plan=x, label=key=value or server=name`);
  }
  return { slugs };
}

/** One entry of `--waves`: a cumulative count or a percentage of the selection. */
type WaveSize = { count: number } | { percent: number };

export function parseWaveSizes(text: string): WaveSize[] {
  const parts = splitList(text);
  if (!parts.length) throw new UsageError('--waves: expected cumulative sizes such as 1,10%,100%');
  return parts.map((part) => {
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(part);
    if (percent) {
      const p = Number(percent[1]);
      if (p <= 0 || p > 100) throw new UsageError(`--waves: ${part} is not a percentage from 0 to 100`);
      return { percent: p };
    }
    if (/^\d+$/.test(part) && Number(part) >= 1) return { count: Number(part) };
    throw new UsageError(`--waves: "${part}" is neither a count (5) nor a percentage (10%)`);
  });
}

/**
 * Splits a selection into waves, in order: the canary first (if any), then each wave's tenants
 * not taken by an earlier one. Tenants no wave takes form a last wave, `rest`. Empty waves are
 * dropped. Pure: the same selection and spec always give the same waves (`--resume` relies on it).
 */
export function planWaves<T extends PlannableTenant>(tenants: readonly T[], spec: RolloutSpec): Array<Wave<T>> {
  let left = [...tenants];
  const waves: Array<Omit<Wave<T>, 'number'>> = [];
  const take = (pick: (t: T, i: number) => boolean): T[] => {
    const taken = new Set(left.filter(pick));
    left = left.filter((t) => !taken.has(t));
    return [...taken];
  };
  if (spec.canary !== undefined) {
    const canary = parseCanary(spec.canary);
    if ('slugs' in canary && canary.slugs) {
      const missing = canary.slugs.filter((s) => !tenants.some((t) => t.slug === s));
      if (missing.length) throw new UsageError(`--canary: ${missing.join(', ')} not among the selected tenants`);
    }
    const taken = 'count' in canary ? take((_, i) => i < canary.count) : take((t) => matches(t, canary));
    if (!taken.length) throw new UsageError(`--canary ${spec.canary}: no selected tenant matches`);
    waves.push({ name: 'canary', canary: true, tenants: taken });
  }
  if (typeof spec.waves === 'string') {
    const sizes = parseWaveSizes(spec.waves);
    let through = waves[0]?.tenants.length ?? 0;
    for (const [i, size] of sizes.entries()) {
      const target = 'count' in size ? size.count : Math.ceil((size.percent / 100) * tenants.length);
      if (i > 0 && target < sizeTarget(sizes[i - 1]!, tenants.length))
        throw new UsageError(`--waves ${spec.waves}: sizes are cumulative and must grow`);
      const want = Math.max(0, target - through);
      const taken = take((_, j) => j < want);
      through += taken.length;
      waves.push({ name: 'count' in size ? `${size.count}` : `${size.percent}%`, canary: false, tenants: taken });
    }
  } else if (spec.waves) {
    for (const [i, wave] of validateWaveConfigs(spec.waves).entries()) {
      waves.push({
        name: wave.name ?? `wave ${i + 1}`,
        canary: false,
        concurrency: wave.concurrency,
        tenants: take((t) => matches(t, wave.select)),
      });
    }
  }
  if (left.length) waves.push({ name: waves.length ? 'rest' : 'all', canary: false, tenants: left });
  return waves.filter((w) => w.tenants.length > 0).map((w, i) => ({ ...w, number: i + 1 }));
}

function sizeTarget(size: WaveSize, total: number): number {
  return 'count' in size ? size.count : Math.ceil((size.percent / 100) * total);
}

/** Whether a tenant matches every filter of a selection. */
export function matches(tenant: PlannableTenant, select: WaveSelect): boolean {
  if (select.slugs && !select.slugs.includes(tenant.slug)) return false;
  if (select.plans && !select.plans.includes(tenant.plan ?? '')) return false;
  if (select.servers && !select.servers.includes(tenant.server_name)) return false;
  if (select.labels) {
    const metadata = parseMetadata(tenant.metadata);
    for (const [key, value] of Object.entries(select.labels)) if (metadataText(metadata[key]) !== value) return false;
  }
  return true;
}

/**
 * `--max-failures`: a count, or a percentage of the selected tenants (at least 1). Once that many
 * tenants have failed, no new tenant starts.
 */
export function parseFailureBudget(text: string, total: number): number {
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  if (percent && Number(percent[1]) > 0 && Number(percent[1]) <= 100)
    return Math.max(1, Math.ceil((Number(percent[1]) / 100) * total));
  if (/^\d+$/.test(text.trim()) && Number(text) >= 1) return Number(text);
  throw new UsageError(
    `--max-failures: expected a count of at least 1 (3) or a percentage (5%), got ${JSON.stringify(text)}`,
  );
}

function parseMetadata(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
