import { createHash } from 'node:crypto';
import { UsageError } from './errors.js';
import { metadataText } from './metadata-value.js';

/** `{meta.<key>}` in a naming template: the tenant's (indexed) metadata entry `key`. */
export const META_PLACEHOLDER = /\{meta\.([A-Za-z0-9_.-]{1,64})\}/g;

/** The metadata keys a template names. */
export function templateMetaKeys(template: string): string[] {
  return [...template.matchAll(META_PLACEHOLDER)].map((m) => m[1]!);
}

/** What a template may produce: a plain identifier that needs no quoting on any engine. */
const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]*$/;

/**
 * Renders a naming template such as `tenant_{slug}`: `{slug}` is replaced by the slug with `-`
 * mapped to `_`, so that every produced name is a plain identifier on every engine.
 */
export function renderName(template: string, slug: string, metadata: Record<string, unknown> = {}): string {
  // A metadata value goes in as it is, `-` mapped to `_` as for slugs: anything else that is not
  // a plain identifier character makes the name unsafe, and it is refused (exit 2), not mangled.
  const withMeta = template.replace(META_PLACEHOLDER, (_, key: string) => {
    const value = metadataText(metadata[key]);
    if (value === undefined || value === '')
      throw new UsageError(
        `naming template "${template}" needs metadata "${key}" (a string or number): set it with --set ${key}=…`,
      );
    return value.replaceAll('-', '_');
  });
  const name = withMeta.replaceAll('{slug}', slug.replaceAll('-', '_'));
  if (!IDENTIFIER_PATTERN.test(name)) {
    throw new UsageError(
      `naming template "${template}" gives "${name}" for slug "${slug}": names must be lower-case letters, digits and "_"`,
    );
  }
  return name;
}

/** Checked when configuration is loaded, so a bad template fails before any tenant is touched. */
export function validateTemplate(template: string): string | undefined {
  if (!template.includes('{slug}')) return 'must contain {slug}';
  if (!IDENTIFIER_PATTERN.test(template.replace(META_PLACEHOLDER, 'x').replaceAll('{slug}', 'x'))) {
    return 'may contain only lower-case letters, digits, "_", {slug} and {meta.<key>}';
  }
  return undefined;
}

/** Hex characters of the hash a shortened name ends with (after `_`). */
const SUFFIX_LENGTH = 8;

/**
 * A derived name that fits the engine's limit: as it is when it fits, else cut and ended with
 * `_` and a short hash of the whole name, so two long names that start alike stay apart and the
 * same slug always gets the same name.
 */
export function fitName(name: string, limit: number): string {
  if (name.length <= limit) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, SUFFIX_LENGTH);
  return `${name.slice(0, limit - SUFFIX_LENGTH - 1)}_${hash}`;
}
