import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, createGzip } from 'node:zlib';
import type { DumpTools, TenantCredentials } from './engine-driver.js';
import { withCredentialFile } from './credential-file.js';
import { requireTrailer, sink } from './dump-checks.js';
import { clientCommandCheck } from './mysql-client-check.js';
import { inheritedEnv, resolveTool, runTool, type ToolControl } from './run-tool.js';
import type { ServerSpec } from './server-spec.js';
import { MYSQL_TLS } from './mysql-descriptor.js';

const run = promisify(execFile);

/** mysqldump writes this as its last line when, and only when, the dump is complete. */
const TRAILER = '-- Dump completed';

/**
 * A value in an option file: quoted, with the escapes the client's option parser reads back, so
 * any password works (line breaks included: `\n`, `\r`, `\t`).
 */
const OPTION_ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const quoteOption = (value: string) => `"${value.replace(/[\\"\n\r\t]/g, (c) => OPTION_ESCAPES[c]!)}"`;

/**
 * Runs `fn` with an option file holding the credentials of `login` (a tenant's user; the admin
 * where it has none): mode 0600 in the private `credentialDir`, removed afterwards. The password
 * never reaches a command line.
 */
async function withOptionFile<T>(
  spec: ServerSpec,
  login: Pick<TenantCredentials, 'user' | 'password'>,
  credentialDir: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  const password = login.user ? login.password : spec.password;
  const lines = [
    '[client]',
    `host=${quoteOption(spec.host ?? '127.0.0.1')}`,
    `port=${spec.port ?? 3306}`,
    // `localhost` would otherwise mean the default Unix socket: another server, and never TLS.
    'protocol=TCP',
    `user=${quoteOption(login.user ?? spec.user ?? 'root')}`,
  ];
  if (password) lines.push(`password=${quoteOption(password)}`);
  return withCredentialFile(credentialDir, 'client.cnf', `${lines.join('\n')}\n`, fn);
}

/**
 * The server's TLS settings as the client's flags (file paths only, no secret). MySQL's clients
 * take `--ssl-mode` as the URL names it. MariaDB's have no modes: `--skip-ssl` (disable), `--ssl`
 * (prefer, require) and `--ssl-verify-server-cert` (verify-ca and verify-full alike: it checks the
 * chain against `--ssl-ca` and the host name; it has no chain-only check).
 */
export function mysqlTlsFlags(spec: ServerSpec, features: Pick<ClientFeatures, 'sslMode'>): string[] {
  const tls = spec.tls;
  if (!tls) return [];
  const files = [
    ...(tls.ca ? [`--ssl-ca=${tls.ca}`] : []),
    ...(tls.cert ? [`--ssl-cert=${tls.cert}`] : []),
    ...(tls.key ? [`--ssl-key=${tls.key}`] : []),
  ];
  if (features.sslMode) return [`--ssl-mode=${MYSQL_TLS.modes[tls.mode]}`, ...(tls.mode === 'disable' ? [] : files)];
  if (tls.mode === 'disable') return ['--skip-ssl'];
  const verify = tls.mode === 'verify-ca' || tls.mode === 'verify-full' || (tls.mode === 'require' && !!tls.ca);
  return ['--ssl', ...files, ...(verify ? ['--ssl-verify-server-cert'] : [])];
}

/**
 * A consistent, compressed SQL dump with routines, triggers and events, streamed to `output`,
 * logged in as `login` (the tenant's own user, who alone sees its routines' bodies). `more`: the
 * dump tool's further options (an online move's `--master-data=2`).
 */
export async function mysqlDumpTo(
  spec: ServerSpec,
  login: TenantCredentials,
  output: Writable,
  tools: DumpTools,
  control: ToolControl,
  more: string[] = [],
): Promise<void> {
  const dump = resolveTool(
    tools.mysqlDump ? [tools.mysqlDump] : ['mariadb-dump', 'mysqldump'],
    'mariadb-client or mysql-client (Debian: apt-get install mariadb-client)',
  );
  // The dump tool's --help is asked only when there are TLS settings to translate into its flags.
  const tlsFlags = spec.tls ? mysqlTlsFlags(spec, await featuresOf(dump)) : [];
  const trailer = requireTrailer(TRAILER, 'the dump');
  const downstream = pipeline(trailer, createGzip(), output);
  const dumped = withOptionFile(spec, login, tools.credentialDir, (options) =>
    runTool({
      command: dump,
      // --defaults-extra-file must come first.
      args: [
        `--defaults-extra-file=${options}`,
        ...tlsFlags,
        '--single-transaction',
        '--routines',
        '--triggers',
        '--events',
        '--hex-blob',
        '--default-character-set=utf8mb4',
        '--no-tablespaces',
        ...more,
        login.database,
      ],
      stdout: trailer,
      secrets: [spec.password, login.password],
      ...control,
    }),
  ).catch((error: Error) => {
    trailer.destroy(error); // so the compressed side settles too
    throw error;
  });
  const [tool, rest] = await Promise.allSettled([dumped, downstream]);
  if (tool.status === 'rejected') throw tool.reason;
  if (rest.status === 'rejected') throw rest.reason;
}

/** The file decompresses and ends with mysqldump's completion line. */
export async function mysqlCheckDump(file: string): Promise<void> {
  await pipeline(createReadStream(file), createGunzip(), requireTrailer(TRAILER, file), sink());
}

/** What a mysql client binary offers against a hostile file (from its --help), asked once per binary. */
interface ClientFeatures {
  sandbox: boolean;
  binaryMode: boolean;
  /** MySQL's `--ssl-mode`; without it, MariaDB's `--ssl`/`--skip-ssl`/`--ssl-verify-server-cert`. */
  sslMode: boolean;
}
const clientFeatures = new Map<string, Promise<ClientFeatures>>();

function featuresOf(client: string): Promise<ClientFeatures> {
  let features = clientFeatures.get(client);
  if (!features) {
    features = run(client, ['--help'], { env: inheritedEnv(), maxBuffer: 4 * 1024 * 1024 }).then(({ stdout }) => ({
      sandbox: /^\s*--sandbox\b/m.test(stdout),
      binaryMode: /^\s*--binary-mode\b/m.test(stdout),
      sslMode: /^\s*--ssl-mode\b/m.test(stdout),
    }));
    clientFeatures.set(client, features);
    features.catch(() => clientFeatures.delete(client));
  }
  return features;
}

/**
 * Restores a dump into an existing, empty database through the mysql client's stdin, logged in as
 * `login` (the tenant's own user), so every statement the file holds runs with that user's rights
 * on its own database only. The client reads it with `--binary-mode` (no client commands but
 * DELIMITER) and, where it has one, `--sandbox` (nothing that reaches this machine's files or a
 * shell); a client without the sandbox gets the file only after tenantctl's own check found no
 * client command in it. Definers are rewritten to the restoring user (see portableDump).
 */
export async function mysqlRestoreFrom(
  spec: ServerSpec,
  login: TenantCredentials,
  file: string,
  tools: DumpTools,
  control: ToolControl,
): Promise<void> {
  const client = resolveTool(
    tools.mysqlClient ? [tools.mysqlClient] : ['mariadb', 'mysql'],
    'mariadb-client or mysql-client',
  );
  const features = await featuresOf(client);
  // Read the whole file first: a client command is refused before any statement of it runs.
  if (!features.sandbox) await pipeline(createReadStream(file), createGunzip(), clientCommandCheck(file), sink());
  await withOptionFile(spec, login, tools.credentialDir, (options) =>
    runTool({
      command: client,
      args: [
        `--defaults-extra-file=${options}`,
        ...mysqlTlsFlags(spec, features),
        '--default-character-set=utf8mb4',
        ...(features.binaryMode ? ['--binary-mode'] : []),
        ...(features.sandbox ? ['--sandbox'] : []),
        login.database,
      ],
      stdin: createReadStream(file).pipe(createGunzip()).pipe(portableDump()),
      secrets: [spec.password, login.password],
      ...control,
    }),
  );
}

/** The statements of a dump that name a definer, by how their line starts (mysqldump gives each its own line). */
const DEFINER_LINES = [
  '/*!50013 DEFINER=', // a view
  '/*!50003 CREATE*/ /*!50017 DEFINER=', // a trigger
  '/*!50106 CREATE*/ /*!50117 DEFINER=', // an event
  'CREATE DEFINER=', // a procedure or function
];
const DEFINER = /DEFINER=(`(?:[^`]|``)*`|'(?:[^'\\]|\\.)*'|[^\s@*]+)@(`(?:[^`]|``)*`|'(?:[^'\\]|\\.)*'|[^\s*]+)/;
/** A view's definition: the server writes every table it reads qualified with the dumped database's name. */
const VIEW_LINE = '/*!50001 VIEW ';
/** The dump's header names the database it was taken from. */
const HEADER = /^-- Host: .*Database: (\S+)\s*$/;

/**
 * Makes a dump restorable into another database as another user: each definer clause
 * (`DEFINER=\`tenant_a\`@\`%\``) becomes `DEFINER=CURRENT_USER`, so views, triggers, routines
 * and events belong to the user restoring them (a clone's or a moved tenant's new user, a scratch
 * copy's own; creating an object for another definer needs a privilege no tenant user has), and
 * a view's tables, qualified with the dumped database's name, are its own database's again (a
 * clone's views would otherwise read the tenant it was cloned from). Only lines that start one of
 * those statements are touched, never data: mysqldump writes every row of data, escaped, on a line
 * of its own.
 */
export function portableDump(): Transform {
  let partial: Buffer = Buffer.alloc(0);
  let lines = 0;
  let qualifier: string | undefined;
  const rewrite = (line: Buffer): Buffer => {
    const start = line.subarray(0, 48).toString('latin1');
    if (lines++ < 10 && !qualifier) {
      const source = HEADER.exec(line.toString('utf8').trimEnd())?.[1];
      if (source) qualifier = `\`${source.replaceAll('`', '``')}\`.`;
    }
    if (DEFINER_LINES.some((prefix) => start.startsWith(prefix)))
      return Buffer.from(line.toString('latin1').replace(DEFINER, 'DEFINER=CURRENT_USER'), 'latin1');
    if (qualifier && start.startsWith(VIEW_LINE))
      return Buffer.from(line.toString('utf8').replaceAll(qualifier, ''), 'utf8');
    return line;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const data = partial.length ? Buffer.concat([partial, chunk]) : chunk;
      const last = data.lastIndexOf(0x0a);
      if (last < 0) {
        partial = data;
        return callback();
      }
      const out: Buffer[] = [];
      let from = 0;
      for (let nl = data.indexOf(0x0a); nl >= 0 && nl <= last; nl = data.indexOf(0x0a, from)) {
        out.push(rewrite(data.subarray(from, nl + 1)));
        from = nl + 1;
      }
      partial = Buffer.from(data.subarray(last + 1));
      callback(null, Buffer.concat(out));
    },
    flush(callback: TransformCallback) {
      callback(null, partial.length ? rewrite(partial) : undefined);
    },
  });
}
