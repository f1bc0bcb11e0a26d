import { spawnSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OwnPostgres } from './own-postgres.js';
import { startOwnMariadb, type OwnMariadb } from './own-mariadb.js';

const CERTS_SCRIPT = fileURLToPath(new URL('../servers/tls-certs.sh', import.meta.url));

/**
 * An address of this machine's loopback that the server certificate does not name: the servers
 * listen on it too, so verify-full to it must fail on the name alone.
 */
export const OTHER_ADDRESS = '127.0.0.2';

/** A test CA and a server certificate it signed (CN localhost, SAN localhost and 127.0.0.1), by tls-certs.sh. */
export interface TestCertificates {
  dir: string;
  ca: string;
  /** A CA that signed nothing here: a server's certificate does not verify against it. */
  otherCa: string;
  cert: string;
  key: string;
}

export function makeTestCertificates(dir = mkdtempSync(join(tmpdir(), 'tenantctl-tls-'))): TestCertificates {
  const made = spawnSync('bash', [CERTS_SCRIPT, dir], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`tls-certs.sh: ${made.stderr}`);
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    otherCa: join(dir, 'other-ca.crt'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
  };
}

/** The server's certificate and key copied where its user (postgres, mysql) owns them, as the servers insist. */
function serverCopy(certs: TestCertificates, dir: string, owner: string): { cert: string; key: string; ca: string } {
  mkdirSync(dir, { recursive: true });
  const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') };
  copyFileSync(certs.cert, files.cert);
  copyFileSync(certs.key, files.key);
  copyFileSync(certs.ca, files.ca);
  const uid = Number(spawnSync('id', ['-u', owner], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', owner], { encoding: 'utf8' }).stdout.trim());
  for (const file of [dir, ...Object.values(files)]) chownSync(file, uid, gid);
  return files;
}

/**
 * A PostgreSQL of the test's own with TLS on and `hostssl` lines only: a TCP login without TLS
 * finds no pg_hba.conf line ("no encryption") and is refused.
 */
export function startTlsPostgres(port: number, certs: TestCertificates): OwnPostgres {
  const pg = new OwnPostgres(port);
  const files = serverCopy(certs, join(pg.directory, 'tls'), 'postgres');
  pg.start({
    serverOptions: `-c listen_addresses=127.0.0.1,${OTHER_ADDRESS} -c ssl=on -c ssl_cert_file=${files.cert} -c ssl_key_file=${files.key} -c ssl_ca_file=${files.ca}`,
    hba: `local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ${OTHER_ADDRESS}/32 trust\n`,
  });
  return pg;
}

/**
 * A MariaDB of the test's own with TLS on, `require_secure_transport` (a plain TCP login is
 * refused) and an admin that is REQUIRE SSL besides: `tlsadmin` with `password`.
 */
export async function startTlsMariadb(
  ports: number[],
  certs: TestCertificates,
): Promise<OwnMariadb & { admin: { user: string; password: string } }> {
  const dir = mkdtempSync(join(tmpdir(), 'tenantctl-own-mariadb-tls-'));
  const files = serverCopy(certs, dir, 'mysql');
  const server = await startOwnMariadb({ ports, tls: files, bindAddress: `127.0.0.1,${OTHER_ADDRESS}` });
  const root = server.root();
  const admin = { user: 'tlsadmin', password: 'tls-admin-pw' };
  try {
    await root.raw(`create user '${admin.user}'@'%' identified by '${admin.password}' require ssl`);
    await root.raw(`grant all privileges on *.* to '${admin.user}'@'%' with grant option`);
    await root.raw('set global require_secure_transport = on');
  } finally {
    await root.destroy();
  }
  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { ...server, stop, admin };
}
