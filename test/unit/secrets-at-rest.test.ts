import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvironmentError, UsageError } from '../../src/core/errors.js';
import { maskUrlPasswords } from '../../src/core/url-passwords.js';
import {
  leftoverCredentialFiles,
  sweepCredentialFiles,
  withCredentialFile,
} from '../../src/engines/credential-file.js';
import { cachingSha2PasswordHash, nativePasswordHash, sha256Crypt } from '../../src/engines/mysql-password.js';
import { parseServerUrl } from '../../src/engines/server-spec.js';
import { processOwner } from '../../src/core/process-owner.js';
import { maskArguments } from '../../src/lifecycle/registry/audit-log.js';

describe('credential files of dump tools', () => {
  let home: string;
  let dir: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'tenantctl-cred-'));
    dir = join(home, 'tool-credentials');
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('are 0600 files named by this pid in a 0700 folder, first line the owner, removed afterwards', async () => {
    let seen = '';
    await withCredentialFile(dir, 'pgpass', '*:*:*:u:secret\n', async (file) => {
      seen = file;
      expect(file.startsWith(`${dir}/${process.pid}-`)).toBe(true);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const [owner, line] = readFileSync(file, 'utf8').split('\n');
      const me = processOwner();
      expect(owner).toBe(`# tenantctl owner host=${me.host} pid=${me.pid} start=${me.start}`);
      expect(owner).not.toContain(':'); // a pgpass line of its own that could match nothing
      expect(line).toBe('*:*:*:u:secret');
    });
    expect(existsSync(seen)).toBe(false);
  });

  it('a folder left too open is closed again; a symlink instead of the folder is refused', async () => {
    mkdirSync(dir, { mode: 0o755 });
    await withCredentialFile(dir, 'client.cnf', '[client]\n', async () => undefined);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    rmSync(dir, { recursive: true });
    const elsewhere = mkdtempSync(join(tmpdir(), 'tenantctl-elsewhere-'));
    try {
      symlinkSync(elsewhere, dir);
      await expect(withCredentialFile(dir, 'pgpass', 'x', async () => undefined)).rejects.toThrow(EnvironmentError);
      expect(readdirSync(elsewhere)).toEqual([]);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("the files of processes that are gone are found and swept; a live process's and another host's stay", () => {
    mkdirSync(dir, { mode: 0o700 });
    const gone = spawnSync('true').pid!; // exited and reaped
    const write = (name: string, owner: string) => writeFileSync(join(dir, name), `${owner}\n*:*:*:u:pw\n`);
    write(`${gone}-aaaaaaaaaaaa-pgpass`, `# tenantctl owner host=${hostname()} pid=${gone} start=-`);
    const me = processOwner();
    write(`${me.pid}-bbbbbbbbbbbb-pgpass`, `# tenantctl owner host=${me.host} pid=${me.pid} start=${me.start}`);
    // The same pid, but another start time: a recycled pid, so its writer is gone.
    write(`${me.pid}-cccccccccccc-client.cnf`, `# tenantctl owner host=${me.host} pid=${me.pid} start=${me.start}0`);
    write(`${gone}-dddddddddddd-pgpass`, `# tenantctl owner host=not-${hostname()} pid=${gone} start=-`);
    writeFileSync(join(dir, `${gone}-eeeeeeeeeeee-pgpass`), ''); // cut short before its owner line
    writeFileSync(join(dir, 'notes.txt'), 'not ours');

    const found = leftoverCredentialFiles(dir).map((l) => l.file.split('/').pop());
    expect(found.sort()).toEqual(
      [`${gone}-aaaaaaaaaaaa-pgpass`, `${me.pid}-cccccccccccc-client.cnf`, `${gone}-eeeeeeeeeeee-pgpass`].sort(),
    );
    expect(sweepCredentialFiles(dir)).toBe(3);
    expect(readdirSync(dir).sort()).toEqual(
      [`${me.pid}-bbbbbbbbbbbb-pgpass`, `${gone}-dddddddddddd-pgpass`, 'notes.txt'].sort(),
    );
    expect(leftoverCredentialFiles(join(home, 'none'))).toEqual([]);
  });
});

describe('MySQL password hashes computed client-side', () => {
  it("mysql_native_password: '*' and SHA1(SHA1(password)) in upper-case hex", () => {
    expect(nativePasswordHash('password')).toBe('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
  });

  it('SHA-256 crypt matches glibc and openssl ($5$saltstring, 5000 rounds)', () => {
    expect(sha256Crypt(Buffer.from('Hello world!'), Buffer.from('saltstring'), 5000)).toBe(
      '5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5',
    );
  });

  it("caching_sha2_password: MySQL's $A$005$ form with a 20-byte salt (hashcat's reference hash for 'hashcat')", () => {
    const salt = Buffer.from('F9CC98CE08892924F50A213B6BC571A2C11778C5', 'hex');
    expect(sha256Crypt(Buffer.from('hashcat'), salt, 5000)).toBe('bTy95Y99eAME1dwEkHOA1ndHGBWz.1bxSSRkuTXFGV/');
    const hash = cachingSha2PasswordHash('hashcat');
    expect(hash).toMatch(/^\$A\$005\$[./0-9A-Za-z]{20}[./0-9A-Za-z]{43}$/);
    expect(hash).not.toContain('hashcat');
    expect(cachingSha2PasswordHash('pw', 'abcdefghijklmnopqrst')).toBe(
      cachingSha2PasswordHash('pw', 'abcdefghijklmnopqrst'),
    );
    expect(cachingSha2PasswordHash('pw')).not.toBe(cachingSha2PasswordHash('pw')); // a new salt each time
  });
});

describe('passwords in malformed URLs', () => {
  const malformed = [
    ['an unescaped @', 'postgres://admin:Ab@cdefgh@db.internal:5432/postgres', ['Ab@cdefgh', 'cdefgh']],
    ['two of them', 'mysql://root:x@y@zzsecret@db/registry', ['zzsecret', 'y@zz']],
    ['a /', 'postgres://admin:pa/sssecret@db/postgres', ['sssecret']],
    ['a #', 'mariadb://app:pa#sssecret@db:3307', ['sssecret']],
    ['a space', 'postgres://admin:two words@db/postgres', ['words']],
  ] as const;

  it.each(malformed)('masks the whole password with %s, as an argument and as --flag=url', (_what, url, parts) => {
    for (const masked of [...maskArguments(['server', 'add', 'x', '--url', url]), ...maskArguments([`--url=${url}`])]) {
      for (const part of parts) expect(masked).not.toContain(part);
    }
    expect(maskUrlPasswords(url)).toMatch(/^[a-z]+:\/\/[a-z]+:\*{8}@/);
  });

  it.each(malformed)(
    'refuses a URL with %s (exit 2), saying how to escape it and never repeating it',
    (_what, url, parts) => {
      let error: unknown;
      try {
        parseServerUrl(url);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(UsageError);
      const message = (error as Error).message;
      expect(message).toMatch(/@ as %40, \/ as %2F/);
      expect(message).toMatch(/--password-stdin/);
      for (const part of parts) expect(message).not.toContain(part);
    },
  );

  it('reads the same passwords percent-encoded, and masks them', () => {
    expect(parseServerUrl('postgres://admin:Ab%40cdefgh@db.internal:5432/postgres')).toMatchObject({
      host: 'db.internal',
      password: 'Ab@cdefgh',
    });
    expect(parseServerUrl('postgres://admin:two%20words@db/postgres').password).toBe('two words');
    expect(maskUrlPasswords('--url=postgres://admin:Ab%40cdefgh@db/postgres')).toBe(
      '--url=postgres://admin:********@db/postgres',
    );
    expect(maskUrlPasswords('--reason=see https://example.com/x')).toBe('--reason=see https://example.com/x');
  });

  it('masks a URL after a long run of letters (a metadata value of 2 MB), reading it once', () => {
    // Every argument is masked before it is audited: a scheme tried at each letter of the run
    // took minutes on 1.5 MB of arguments; this one would not finish within the test's timeout.
    const run = 'x'.repeat(2_000_000);
    expect(maskUrlPasswords(`--set=note=${run} mysql://root:secret@db/x`)).toBe(
      `--set=note=${run} mysql://root:********@db/x`,
    );
  });
});
