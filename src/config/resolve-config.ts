import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';
import { maskUrlPasswords } from '../core/url-passwords.js';
import { descriptorForUrl } from '../engines/descriptors.js';
import { findKnexfile } from './find-knexfile.js';
import { CONFIG_KEYS, defaultFor, type Config, type ConfigKeyDefinition, type ConfigSource } from './config-keys.js';

/** The file read from the working directory when `--config` is not given. */
export const CONFIG_FILE_NAME = 'tenantctl.config.json';

export interface ResolvedConfig {
  config: Config;
  sources: Record<keyof Config, ConfigSource>;
  /** The config file that was read, if any. */
  file: string | undefined;
  cwd: string;
}

export interface ConfigInputs {
  /** Values given as command-line flags; undefined means "not passed". */
  flags: Partial<Record<keyof Config, unknown>>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** `--config FILE`; a named file that does not exist is an error. */
  configFile?: string;
}

/**
 * Precedence: flags > environment (TENANTCTL_*) > config file > defaults (the knexfile comes
 * between the file and the defaults for the directories: see tenantProject). Every problem is
 * collected and reported together, each naming its key.
 */
export function resolveConfig(inputs: ConfigInputs): ResolvedConfig {
  const errors: string[] = [];
  const { values: fileValues, file } = readConfigFile(inputs, errors);
  const raw: Partial<Record<keyof Config, unknown>> = {};
  const sources = {} as Record<keyof Config, ConfigSource>;

  for (const def of CONFIG_KEYS) {
    const flag = inputs.flags[def.key];
    const env = inputs.env[def.env];
    const fromFile = fileValues[def.key];
    let value: unknown;
    let source: ConfigSource;
    if (flag !== undefined) [value, source] = [flag, 'flag'];
    else if (env !== undefined && env !== '') [value, source] = [env, 'env'];
    else if (fromFile !== undefined) [value, source] = [fromFile, 'file'];
    else continue;
    const label = source === 'env' ? def.env : source === 'file' ? `${file}: "${def.key}"` : def.key;
    const parsed = parseValue(def, value, label, errors);
    if (parsed !== undefined) {
      raw[def.key] = parsed;
      sources[def.key] = source;
    }
  }
  if (errors.length > 0) throw new UsageError(`invalid configuration:\n  ${errors.join('\n  ')}`);

  const home = resolvePath(inputs.cwd, (raw.home as string | undefined) ?? '.tenantctl');
  const config = {} as Record<keyof Config, unknown>;
  for (const def of CONFIG_KEYS) {
    if (raw[def.key] === undefined) sources[def.key] = 'default';
    let value = raw[def.key] ?? workingDefault(def.key, inputs) ?? defaultFor(def.key, home);
    if (def.type === 'path' && typeof value === 'string') value = resolvePath(inputs.cwd, value);
    if (def.key === 'registryUrl' || def.key === 'serverUrl') value = absoluteUrl(inputs.cwd, value as string);
    config[def.key] = value;
  }
  const directoriesConfigured = {
    migrations: sources.migrationsDir !== 'default',
    seeds: sources.seedsDir !== 'default',
  };
  return { config: { ...(config as unknown as Config), directoriesConfigured }, sources, file, cwd: inputs.cwd };
}

/** Defaults that depend on the working directory or the environment rather than on `home`. */
function workingDefault(key: keyof Config, inputs: ConfigInputs): string | undefined {
  if (key === 'knexfile') return findKnexfile(inputs.cwd);
  if (key === 'knexEnv') return inputs.env.NODE_ENV || undefined;
  return undefined;
}

function readConfigFile(inputs: ConfigInputs, errors: string[]): { values: Record<string, unknown>; file?: string } {
  const file = inputs.configFile ? resolve(inputs.cwd, inputs.configFile) : resolve(inputs.cwd, CONFIG_FILE_NAME);
  if (!existsSync(file)) {
    if (inputs.configFile) throw new UsageError(`config file ${file} does not exist`);
    return { values: {} };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`config file ${file} must hold a JSON object`);
  }
  const known = new Set<string>(CONFIG_KEYS.map((d) => d.key));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) errors.push(`${file}: unknown key "${key}"`);
  }
  return { values: parsed as Record<string, unknown>, file };
}

function parseValue(def: ConfigKeyDefinition, value: unknown, label: string, errors: string[]): unknown {
  if (def.type === 'boolean') {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string' && /^(true|1|yes|on)$/i.test(value)) return true;
    if (typeof value === 'string' && /^(false|0|no|off)$/i.test(value)) return false;
    errors.push(`${label}: expected true or false, got ${JSON.stringify(value)}`);
    return undefined;
  }
  if (def.type === 'count') {
    const n =
      typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
    if (Number.isInteger(n) && n >= 1 && n <= 256) return n;
    errors.push(`${label}: expected a whole number from 1 to 256, got ${JSON.stringify(value)}`);
    return undefined;
  }
  if (def.type === 'days') {
    const n =
      typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
    if (Number.isInteger(n) && n >= 0 && n <= 36_500) return n;
    errors.push(`${label}: expected a number of days from 0 to 36500, got ${JSON.stringify(value)}`);
    return undefined;
  }
  if (def.type === 'list') return parseList(def, value, label, errors);
  if (def.type === 'json') {
    try {
      const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
      return def.validateJson ? def.validateJson(parsed) : parsed;
    } catch (error) {
      errors.push(`${label}: ${(error as Error).message}`);
      return undefined;
    }
  }
  if (typeof value !== 'string' || value === '') {
    errors.push(`${label}: expected a non-empty string, got ${JSON.stringify(value)}`);
    return undefined;
  }
  const problem = def.validate?.(value);
  if (problem) {
    errors.push(`${label}: ${problem}`);
    return undefined;
  }
  return value;
}

/** A list: a JSON array of strings, or one comma-separated string (environment, flags). */
function parseList(def: ConfigKeyDefinition, value: unknown, label: string, errors: string[]): string[] | undefined {
  const items =
    typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : value;
  if (!Array.isArray(items) || items.some((item) => typeof item !== 'string')) {
    errors.push(`${label}: expected a list of strings, got ${JSON.stringify(value)}`);
    return undefined;
  }
  const problems = items.map((item: string) => def.validate?.(item)).filter((p): p is string => p !== undefined);
  if (problems.length) {
    errors.push(`${label}: ${problems.join('; ')}`);
    return undefined;
  }
  return [...new Set(items as string[])];
}

function resolvePath(cwd: string, path: string): string {
  return isAbsolute(path) ? path : resolve(cwd, path);
}

/** A relative path in a file URL is relative to the working directory; made absolute once, here, by its engine. */
function absoluteUrl(cwd: string, url: string): string {
  return descriptorForUrl(url)?.absoluteUrl(url, cwd) ?? url;
}

/** The configuration as `config` shows it: secrets masked, passwords removed from URLs. */
export function maskedConfig(
  resolved: ResolvedConfig,
): Array<{ key: string; value: string; source: ConfigSource; env: string }> {
  return CONFIG_KEYS.map((def) => {
    const value = resolved.config[def.key];
    let shown = value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
    if (def.secret && typeof value === 'string') shown = def.key.endsWith('Url') ? maskUrlPassword(value) : '********';
    return { key: def.key, value: shown, source: resolved.sources[def.key], env: def.env };
  });
}

/** A URL with its password masked, however malformed it is (see maskUrlPasswords). */
export function maskUrlPassword(url: string): string {
  return maskUrlPasswords(url);
}
