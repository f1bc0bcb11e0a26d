import { UsageError } from './errors.js';

/**
 * The slug rules `slugPattern` names. `word` (the default): lower-case letters, digits, `-` and
 * `_`, starting with a letter. `id`: generated ids such as hex ObjectIds and UUIDs, starting with a
 * letter or a digit. Any other value is a regular expression a slug must also match.
 */
export const SLUG_PATTERNS: Readonly<Record<string, string>> = {
  word: '^[a-z][a-z0-9_-]*$',
  id: '^[a-z0-9][a-z0-9-]*$',
};
/** Whatever the pattern: only characters every derived name and file name can take. */
const SAFE_SLUG = /^[a-z0-9][a-z0-9_-]*$/;
/** Long enough for any real tenant (a UUID is 36), short enough to leave room for a template's prefix. */
export const MAX_SLUG_LENGTH = 48;

/** A slug rule: the pattern and how an error names it. */
export interface SlugRule {
  pattern: RegExp;
  describe: string;
}

const DESCRIBED: Readonly<Record<string, string>> = {
  word: 'use lower-case letters, digits, "-" and "_", starting with a letter',
  id: 'use lower-case letters, digits and "-", starting with a letter or a digit (slugPattern id)',
};

/** The rule a `slugPattern` setting names; undefined for a regular expression that does not compile. */
export function slugRule(setting: string = 'word'): SlugRule | undefined {
  const source = SLUG_PATTERNS[setting] ?? setting;
  try {
    return { pattern: new RegExp(source), describe: DESCRIBED[setting] ?? `match slugPattern ${setting}` };
  } catch {
    return undefined;
  }
}

/** Checked when configuration is loaded. */
export function validateSlugPattern(setting: string): string | undefined {
  return slugRule(setting) ? undefined : 'must be word, id or a regular expression';
}

const DEFAULT_RULE = slugRule('word')!;

/** Throws a UsageError naming the rule a slug breaks; checked before anything is touched. */
export function validateSlug(slug: string, rule: SlugRule = DEFAULT_RULE): string {
  if (slug.length === 0) throw new UsageError('the tenant slug is empty');
  if (slug.length > MAX_SLUG_LENGTH) {
    throw new UsageError(`invalid slug "${printable(slug)}": longer than ${MAX_SLUG_LENGTH} characters`);
  }
  if (!SAFE_SLUG.test(slug) || !rule.pattern.test(slug)) {
    const safe = SAFE_SLUG.test(slug) ? '' : ' (only lower-case letters, digits, "-" and "_" are ever allowed)';
    throw new UsageError(`invalid slug "${printable(slug)}": ${rule.describe}${safe}`);
  }
  return slug;
}

/** Keeps control characters out of error messages that echo user input. */
function printable(value: string): string {
  return JSON.stringify(value.slice(0, 64)).slice(1, -1);
}

/** The rule new slugs follow under this configuration (`slugPattern`). */
export function slugRuleOf(config: { slugPattern?: string }): SlugRule {
  return slugRule(config.slugPattern ?? 'word') ?? DEFAULT_RULE;
}

/**
 * The rule a slug naming an existing tenant follows: any safe slug, so that tenants made under
 * another `slugPattern` are still found (an unknown one is "not found", exit 3).
 */
export const EXISTING_SLUG: SlugRule = {
  pattern: SAFE_SLUG,
  describe: 'use lower-case letters, digits, "-" and "_", starting with a letter or a digit',
};
