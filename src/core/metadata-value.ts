/**
 * A metadata value as the text tenants are matched by (indexed lookups, rollout labels): only a
 * string, number or boolean has one. An object or a list would stringify to the same
 * "[object Object]" or to a comma list, which matches nothing anyone meant.
 */
export function metadataText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}
