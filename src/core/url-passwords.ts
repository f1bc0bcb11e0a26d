/**
 * Masking and checking the passwords in URLs, without relying on the URL being well-formed: a
 * password with an unescaped `@`, `/` or space is still a password, and must not be half shown.
 */

const MASK = '********';
// A scheme starts where a run of scheme characters starts, and is short: tried at every letter
// of a long run (a 100 KB metadata value), an unbounded one took minutes (each try ran to the
// run's end); this way each run is read once.
const SCHEME = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\//gi;

/**
 * Masks the password of every `scheme://user:password@…` in `text` (an argument, a configured
 * value). The user part ends at the first `:` or `@`; everything from there to the last `@` of the
 * text is taken for the password, so one that holds an unescaped `@` (or `/`, `?`, `#`, a space)
 * is masked whole. It may mask more than the password, never less.
 */
export function maskUrlPasswords(text: string): string {
  let out = '';
  let from = 0;
  for (const match of text.matchAll(SCHEME)) {
    const start = match.index + match[0].length;
    if (start < from) continue; // inside what an earlier URL's mask already took
    const lastAt = text.lastIndexOf('@');
    if (lastAt < start) continue;
    const userinfo = text.slice(start, lastAt);
    const userEnd = userinfo.search(/[:@]/);
    if (userEnd < 0) continue; // a user and no password
    out += `${text.slice(from, start)}${userinfo.slice(0, userEnd)}:${MASK}`;
    from = lastAt;
  }
  return out + text.slice(from);
}

/**
 * Why a network URL's user or password cannot be read as written (characters that end the part
 * they are in), or undefined. `new URL` would read such a URL some other way without a word: an
 * `@` in the password becomes part of the host's side, a `/` starts the path.
 */
export function unescapedUserinfo(url: string): string | undefined {
  const start = url.indexOf('://');
  if (start < 0) return undefined;
  const rest = url.slice(start + 3);
  const lastAt = rest.lastIndexOf('@');
  if (lastAt < 0) return undefined;
  if (!/[@/?#\s]/.test(rest.slice(0, lastAt))) return undefined;
  return 'the URL holds an @ that does not end its user and password: characters that are special in a URL must be percent-encoded in the user and password (@ as %40, / as %2F, ? as %3F, # as %23, % as %25, a space as %20, and : in the user as %3A), e.g. postgres://admin:p%40ss@db:5432/postgres; or leave the password out of the URL and give it with --password-stdin (or TENANTCTL_SERVER_PASSWORD)';
}
