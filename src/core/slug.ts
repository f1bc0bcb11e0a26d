import { UsageError } from './errors.js';

/** Lower-case letters, digits, `-` and `_`, starting with a letter. */
const SLUG_PATTERN = /^[a-z][a-z0-9_-]*$/;
/** Long enough for any real tenant, short enough to leave room for a name template's prefix. */
export const MAX_SLUG_LENGTH = 48;

/** Throws a UsageError naming the rule a slug breaks; checked before anything is touched. */
export function validateSlug(slug: string): string {
  if (slug.length === 0) throw new UsageError('the tenant slug is empty');
  if (slug.length > MAX_SLUG_LENGTH) {
    throw new UsageError(`invalid slug "${printable(slug)}": longer than ${MAX_SLUG_LENGTH} characters`);
  }
  if (!SLUG_PATTERN.test(slug)) {
    throw new UsageError(
      `invalid slug "${printable(slug)}": use lower-case letters, digits, "-" and "_", starting with a letter`,
    );
  }
  return slug;
}

/** Keeps control characters out of error messages that echo user input. */
function printable(value: string): string {
  return JSON.stringify(value.slice(0, 64)).slice(1, -1);
}
