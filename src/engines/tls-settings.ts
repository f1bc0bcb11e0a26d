import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { EnvironmentError, UsageError } from '../core/errors.js';

/**
 * How a connection to a server uses TLS, in libpq's words (each engine's descriptor maps its own
 * URL parameters onto these): `disable` plain; `prefer` TLS when the server offers it (the dump
 * tools fall back to plain; tenantctl's own connections, whose drivers cannot, use TLS unverified);
 * `require` TLS, certificate not checked; `verify-ca` TLS with a certificate signed by the CA;
 * `verify-full` that, and the certificate names the host connected to.
 */
export const TLS_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

/** A server's TLS settings as stored in the registry: file paths, never the files' contents. */
export interface TlsSettings {
  mode: TlsMode;
  /** The CA certificate(s) the server's certificate must be signed by (PEM file). */
  ca?: string;
  /** A client certificate and its key, for servers that ask for one (PEM files). */
  cert?: string;
  key?: string;
}

/** How an engine's URLs spell the settings: the parameter names and the mode values. */
export interface TlsParameterNames {
  mode: string;
  modes: Record<TlsMode, string>;
  ca: string;
  cert: string;
  key: string;
}

const FILES = ['ca', 'cert', 'key'] as const;

/**
 * The TLS settings of a URL's parameters in an engine's words; undefined when it names none.
 * Any other parameter is refused (exit 2): a parameter dropped silently would be a setting the
 * user believes in and tenantctl ignores.
 */
export function parseTlsParameters(params: URLSearchParams, names: TlsParameterNames): TlsSettings | undefined {
  const known = [names.mode, names.ca, names.cert, names.key];
  for (const key of params.keys()) {
    if (!known.includes(key))
      throw new UsageError(`a server URL has the parameter "${key}": only ${known.join(', ')} are understood`);
  }
  if (known.every((key) => !params.has(key))) return undefined;
  const given = params.get(names.mode);
  let mode: TlsMode | undefined;
  if (given !== null) {
    mode = (Object.entries(names.modes) as Array<[TlsMode, string]>).find(
      ([, word]) => word.toLowerCase() === given.toLowerCase(),
    )?.[0];
    if (!mode)
      throw new UsageError(
        `${names.mode}=${given} is not a TLS mode: use one of ${Object.values(names.modes).join(', ')}`,
      );
  }
  const settings: TlsSettings = { mode: mode ?? (params.has(names.ca) ? 'verify-ca' : 'prefer') };
  for (const file of FILES) {
    const value = params.get(names[file]);
    if (value === null) continue;
    if (value === '') throw new UsageError(`${names[file]} in a server URL is empty: give a file path`);
    settings[file] = value;
  }
  if (Boolean(settings.cert) !== Boolean(settings.key))
    throw new UsageError(`${names.cert} and ${names.key} go together: give both or neither`);
  return settings;
}

/** The settings as URL parameters in an engine's words (`?sslmode=verify-full&sslrootcert=…`), '' for none. */
export function tlsQuery(tls: TlsSettings | undefined, names: TlsParameterNames): string {
  if (!tls) return '';
  const params = new URLSearchParams({ [names.mode]: names.modes[tls.mode] });
  for (const file of FILES) if (tls[file]) params.set(names[file], tls[file]!);
  // Paths stay readable: `/` needs no escaping in a query.
  return `?${params.toString().replace(/%2F/gi, '/')}`;
}

/** The settings as a parameter map in an engine's words, for `server show`. */
export function tlsParameterMap(tls: TlsSettings | undefined, names: TlsParameterNames): Record<string, string> | null {
  if (!tls) return null;
  const map: Record<string, string> = { [names.mode]: names.modes[tls.mode] };
  for (const file of FILES) if (tls[file]) map[names[file]] = tls[file]!;
  return map;
}

/** What the Node drivers (pg, mysql2) take as their `ssl` option. */
export interface NodeTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  /** Whether the certificate must name the host (verify-full). */
  verifyIdentity: boolean;
}

function readTlsFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new EnvironmentError(
      `cannot read the TLS ${what} file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
}

/**
 * The driver's `ssl` option for `tls`, with the files read now; false for plain connections.
 * `require` with a CA file verifies the CA, as libpq does.
 */
export function nodeTlsOptions(tls: TlsSettings | undefined): NodeTlsOptions | false {
  if (!tls || tls.mode === 'disable') return false;
  const verify = tls.mode === 'verify-ca' || tls.mode === 'verify-full' || (tls.mode === 'require' && !!tls.ca);
  return {
    ...(tls.ca ? { ca: readTlsFile(tls.ca, 'CA certificate') } : {}),
    ...(tls.cert ? { cert: readTlsFile(tls.cert, 'client certificate') } : {}),
    ...(tls.key ? { key: readTlsFile(tls.key, 'client key') } : {}),
    rejectUnauthorized: verify,
    verifyIdentity: tls.mode === 'verify-full',
  };
}

/**
 * Whether `host` is one Node's TLS checks by name itself (a name, sent as SNI); an IP address is
 * not sent, and a driver must check it against the certificate's IP SANs (identityError).
 */
export const isAddress = (host: string | undefined) => !!host && isIP(host) !== 0;

/** Why the certificate does not name `host`, or undefined when it does. */
export function identityError(host: string, certificate: PeerCertificate): Error | undefined {
  return checkServerIdentity(host, certificate);
}
