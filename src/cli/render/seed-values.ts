/**
 * What seeds returned, as the CLI shows it: a seed's value may be a secret (a generated first-admin
 * password), so every value is masked unless `--show-secrets`; the shape (keys) stays visible.
 */
export const MASK = '********';

export function maskSeedValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSeedValues);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSeedValues(v)]));
  return MASK;
}

/** `returned` by file, masked unless shown. */
export function shownSeedValues(returned: Record<string, unknown>, show: boolean): Record<string, unknown> {
  return show ? returned : (maskSeedValues(returned) as Record<string, unknown>);
}

/** One line per seed that returned something: `02_initial_admin.js: {"email":"…","password":"********"}`. */
export function seedValueLines(returned: Record<string, unknown>): string[] {
  return Object.entries(returned).map(([file, value]) => `${file}: ${JSON.stringify(value)}`);
}
