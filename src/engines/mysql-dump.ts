import { createReadStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { DumpTools } from './engine-driver.js';
import { withCredentialFile } from './credential-file.js';
import { requireTrailer, sink } from './dump-checks.js';
import { resolveTool, runTool, type ToolControl } from './run-tool.js';
import type { ServerSpec } from './server-spec.js';

/** mysqldump writes this as its last line when, and only when, the dump is complete. */
const TRAILER = '-- Dump completed';

/**
 * A value in an option file: quoted, with the escapes the client's option parser reads back, so
 * any password works (line breaks included: `\n`, `\r`, `\t`).
 */
const OPTION_ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const quoteOption = (value: string) => `"${value.replace(/[\\"\n\r\t]/g, (c) => OPTION_ESCAPES[c]!)}"`;

/**
 * Runs `fn` with an option file holding the credentials: mode 0600 in the private `credentialDir`,
 * removed afterwards. The password never reaches a command line.
 */
async function withOptionFile<T>(
  spec: ServerSpec,
  credentialDir: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  const lines = [
    '[client]',
    `host=${quoteOption(spec.host ?? '127.0.0.1')}`,
    `port=${spec.port ?? 3306}`,
    `user=${quoteOption(spec.user ?? 'root')}`,
  ];
  if (spec.password) lines.push(`password=${quoteOption(spec.password)}`);
  return withCredentialFile(credentialDir, 'client.cnf', `${lines.join('\n')}\n`, fn);
}

/** A consistent, compressed SQL dump with routines, triggers and events, streamed to `output`. */
export async function mysqlDumpTo(
  spec: ServerSpec,
  database: string,
  output: Writable,
  tools: DumpTools,
  control: ToolControl,
): Promise<void> {
  const dump = resolveTool(
    tools.mysqlDump ? [tools.mysqlDump] : ['mariadb-dump', 'mysqldump'],
    'mariadb-client or mysql-client (Debian: apt-get install mariadb-client)',
  );
  const trailer = requireTrailer(TRAILER, 'the dump');
  const downstream = pipeline(trailer, createGzip(), output);
  const dumped = withOptionFile(spec, tools.credentialDir, (options) =>
    runTool({
      command: dump,
      // --defaults-extra-file must come first.
      args: [
        `--defaults-extra-file=${options}`,
        '--single-transaction',
        '--routines',
        '--triggers',
        '--events',
        '--hex-blob',
        '--default-character-set=utf8mb4',
        '--no-tablespaces',
        database,
      ],
      stdout: trailer,
      secrets: [spec.password],
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

/** Restores a dump into an existing, empty database through the mysql client's stdin. */
export async function mysqlRestoreFrom(
  spec: ServerSpec,
  database: string,
  file: string,
  tools: DumpTools,
  control: ToolControl,
): Promise<void> {
  const client = resolveTool(
    tools.mysqlClient ? [tools.mysqlClient] : ['mariadb', 'mysql'],
    'mariadb-client or mysql-client',
  );
  await withOptionFile(spec, tools.credentialDir, (options) =>
    runTool({
      command: client,
      args: [`--defaults-extra-file=${options}`, '--default-character-set=utf8mb4', database],
      stdin: createReadStream(file).pipe(createGunzip()),
      secrets: [spec.password],
      ...control,
    }),
  );
}
