import { UsageError } from './errors.js';

/** What a template may produce: a plain identifier that needs no quoting on any engine. */
const IDENTIFIER_PATTERN = /^[a-z_][a-z0-9_]*$/;

/**
 * Renders a naming template such as `tenant_{slug}`: `{slug}` is replaced by the slug with `-`
 * mapped to `_`, so that every produced name is a plain identifier on every engine.
 */
export function renderName(template: string, slug: string): string {
  const name = template.replaceAll('{slug}', slug.replaceAll('-', '_'));
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
  if (!IDENTIFIER_PATTERN.test(template.replaceAll('{slug}', 'x'))) {
    return 'may contain only lower-case letters, digits, "_" and {slug}';
  }
  return undefined;
}
