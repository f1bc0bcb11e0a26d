import { InvalidArgumentError, type Command } from 'commander';
import { UsageError } from '../core/errors.js';
import { TENANT_STATUSES, type TenantStatus } from '../registry/tenants-repo.js';

/**
 * The one reading of a whole-number flag (`--limit 20`, `--keep 3`, `--wait 120`): digits only, so
 * a sign, a fraction, `1e3` or blanks are refused rather than silently rounded or read as 0.
 */
function wholeNumber(value: string): number | undefined {
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

/**
 * A whole-number flag read in a command's action: undefined when the flag was not given, a
 * UsageError (exit 2) naming the flag when it is not a whole number.
 */
export function parseInteger(value: string, flag: string): number;
export function parseInteger(value: string | undefined, flag: string): number | undefined;
export function parseInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = wholeNumber(value);
  if (n === undefined) throw new UsageError(`${flag} expects a whole number, got "${value}"`);
  return n;
}

/**
 * The same reading as a commander option or argument parser: commander names the flag and the
 * value, and adds `expected` (e.g. "expected a number of seconds"); it exits 2 as bad usage.
 */
export function integerArgument(expected = 'expected a whole number'): (value: string) => number {
  return (value) => {
    const n = wholeNumber(value);
    if (n === undefined) throw new InvalidArgumentError(expected);
    return n;
  };
}

/** `--set key=value`, repeatable: collected into one object. */
export function collectKeyValue(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([A-Za-z0-9_.-]{1,64})=(.*)$/s.exec(value);
  if (!match)
    throw new InvalidArgumentError(
      `expected key=value with a key of letters, digits, "_", "-" or "." (got "${value}")`,
    );
  return { ...previous, [match[1]!]: match[2]! };
}

/** The longest `--set-json` value, as JSON text: metadata describes a tenant, it is not its data. */
export const MAX_JSON_METADATA = 10_000;

/** `--set-json key=<json>`, repeatable: the value keeps its JSON type (number, boolean, list, object, null). */
export function collectKeyJson(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const [entry] = Object.entries(collectKeyValue(value));
  const [key, text] = entry!;
  if (text.length > MAX_JSON_METADATA)
    throw new InvalidArgumentError(`--set-json ${key}: longer than ${MAX_JSON_METADATA} characters`);
  try {
    return { ...previous, [key]: JSON.parse(text) as unknown };
  } catch (error) {
    throw new InvalidArgumentError(`--set-json ${key}: not JSON (${(error as Error).message})`);
  }
}

/** `--set` and `--set-json` together; a key given by both is ambiguous (exit 2). */
export function mergedMetadata(
  set: Record<string, string> | undefined,
  setJson: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  if (!set && !setJson) return undefined;
  const both = Object.keys(set ?? {}).filter((key) => setJson && key in setJson);
  if (both.length) throw new UsageError(`metadata ${both.join(', ')}: given by both --set and --set-json`);
  return { ...set, ...setJson };
}

/** `--status active,suspended` or repeated `--status`. */
export function collectStatuses(value: string, previous: TenantStatus[] = []): TenantStatus[] {
  const statuses = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const status of statuses) {
    if (!(TENANT_STATUSES as readonly string[]).includes(status)) {
      throw new InvalidArgumentError(`unknown status "${status}" (one of ${TENANT_STATUSES.join(', ')})`);
    }
  }
  return [...previous, ...(statuses as TenantStatus[])];
}

/** Comma-separated or repeated values. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

/** `--per-server <n>`: the per-server limit under `--concurrency`, for every fleet command. */
export const PER_SERVER_HELP =
  "most tenants worked on at once on one server (default: the server's own limit, else --concurrency)";

/**
 * The tenant filters fleet commands share: `--status`, `--plan`, `--server` and (with `tenants`)
 * `--tenants`. `scope` prefixes their help where they only narrow `--all` ("with --all: ").
 */
export function addTenantFilters(command: Command, options: { scope?: string; tenants?: boolean } = {}): Command {
  const scope = options.scope ?? '';
  if (options.tenants ?? true)
    command.option('--tenants <slugs>', `${scope}only these tenants (comma-separated or repeated)`, collectList);
  return command
    .option('--status <status>', `${scope}only active or only suspended tenants (default both)`, collectStatuses)
    .option('--plan <plan>', `${scope}only tenants on these plans (comma-separated or repeated)`, collectList)
    .option('--server <name>', `${scope}only tenants on these servers (comma-separated or repeated)`, collectList);
}
