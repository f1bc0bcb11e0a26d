import { UsageError } from '../core/errors.js';

/*
 * The config file's `waves` key: its shape and its check. It lives with the configuration (not
 * with the rollout that runs the waves) so that reading a config file needs nothing of lifecycle.
 */

/**
 * Which tenants a wave (or the canary) takes; every filter given must match. An empty selection takes every tenant
 * left.
 */
export interface WaveSelect {
  plans?: string[];
  /** Tenant metadata entries (`--set key=value` at create or update), all of which must match. */
  labels?: Record<string, string>;
  /** Server names. */
  servers?: string[];
  slugs?: string[];
}

/** A wave as the config file's `waves` key gives it. */
export interface WaveConfig {
  name?: string;
  select: WaveSelect;
  /** Tenants of this wave worked on at once. Default: the run's concurrency. */
  concurrency?: number;
}

/** Checks waves from the config file; returns them typed or throws naming what is wrong. */
export function validateWaveConfigs(value: unknown, label = 'waves'): WaveConfig[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new UsageError(`${label}: expected a non-empty array of { name?, select, concurrency? }`);
  return value.map((wave, i) => {
    const at = `${label}[${i}]`;
    if (typeof wave !== 'object' || wave === null) throw new UsageError(`${at}: expected an object`);
    const { name, select, concurrency, ...rest } = wave as Record<string, unknown>;
    if (Object.keys(rest).length)
      throw new UsageError(
        `${at}: unknown key ${Object.keys(rest)
          .map((k) => `"${k}"`)
          .join(', ')}`,
      );
    if (name !== undefined && typeof name !== 'string') throw new UsageError(`${at}.name: expected a string`);
    if (
      concurrency !== undefined &&
      !(Number.isInteger(concurrency) && (concurrency as number) >= 1 && (concurrency as number) <= 256)
    ) {
      throw new UsageError(`${at}.concurrency: expected a whole number from 1 to 256`);
    }
    if (typeof select !== 'object' || select === null || Array.isArray(select))
      throw new UsageError(`${at}.select: expected an object`);
    const { plans, labels, servers, slugs, ...other } = select as Record<string, unknown>;
    if (Object.keys(other).length)
      throw new UsageError(
        `${at}.select: unknown key ${Object.keys(other)
          .map((k) => `"${k}"`)
          .join(', ')} (plans, labels, servers, slugs)`,
      );
    for (const [key, list] of Object.entries({ plans, servers, slugs })) {
      if (list !== undefined && !(Array.isArray(list) && list.every((v) => typeof v === 'string')))
        throw new UsageError(`${at}.select.${key}: expected an array of strings`);
    }
    if (
      labels !== undefined &&
      !(typeof labels === 'object' && labels !== null && Object.values(labels).every((v) => typeof v === 'string'))
    ) {
      throw new UsageError(`${at}.select.labels: expected an object of strings`);
    }
    return {
      name,
      select,
      concurrency: concurrency as number | undefined,
    };
  });
}
