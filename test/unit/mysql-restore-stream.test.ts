import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { clientCommandCheck, SANDBOX_MARKER } from '../../src/engines/mysql-client-check.js';
import { portableDump } from '../../src/engines/mysql-dump.js';

/** Streams `text` through `transform` in chunks of `size` bytes; resolves to what came out. */
async function through(transform: NodeJS.ReadWriteStream, text: string, size = 1 << 16): Promise<string> {
  const input = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) chunks.push(input.subarray(i, i + size));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    transform,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(out).toString('utf8');
}

/** What mariadb-dump writes, in small: the marker, comments, executable comments, data, routines. */
const DUMP = [
  SANDBOX_MARKER,
  '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)',
  '--',
  '-- Host: 127.0.0.1    Database: tenant_acme',
  '/*!40101 SET NAMES utf8mb4 */;',
  "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
  'CREATE TABLE `notes` (`id` int(11) NOT NULL, `body` text DEFAULT NULL, PRIMARY KEY (`id`));',
  'INSERT INTO `notes` VALUES',
  "(1,'back\\\\slash \\\\! it\\'s \\\"q\\\"'),",
  "(2,'semi;colon -- x /* y */ # z'),",
  "(3,'DEFINER=`root`@`localhost` \\n system ls');",
  'DELIMITER ;;',
  "/*!50003 CREATE*/ /*!50017 DEFINER=`tenant_acme`@`%`*/ /*!50003 trigger stamp before insert on notes for each row set new.body = concat(new.body, '!') */;;",
  'DELIMITER ;',
  'DELIMITER ;;',
  'CREATE DEFINER=`tenant_acme`@`%` FUNCTION `shout`(s text) RETURNS text CHARSET utf8mb4',
  '    DETERMINISTIC',
  "return concat(upper(s), '!') ;;",
  'DELIMITER ;',
  '/*!50001 CREATE ALGORITHM=UNDEFINED */',
  '/*!50013 DEFINER=`tenant_acme`@`%` SQL SECURITY DEFINER */',
  '/*!50001 VIEW `loud` AS select `tenant_acme`.`notes`.`id` AS `id`,`shout`(`tenant_acme`.`notes`.`body`) AS `body` from `tenant_acme`.`notes` */;',
  '-- Dump completed on 2026-12-01 21:00:00',
  '',
].join('\n');

describe('the check of a SQL file for mysql client commands', () => {
  it('passes what a dump tool writes, unchanged, in chunks of any size', async () => {
    expect(await through(clientCommandCheck('dump'), DUMP)).toBe(DUMP);
    expect(await through(clientCommandCheck('dump'), DUMP, 1)).toBe(DUMP);
    expect(await through(clientCommandCheck('dump'), 'select source from t;\nCREATE USER `a`@`%`;\n')).toContain(
      'CREATE USER',
    );
  });

  it.each([
    ['a shell command on a line of its own', 'select 1;\n\\! touch /tmp/x\n', 2],
    ['a shell command after a statement', 'select 1 \\! touch /tmp/x\n;\n', 1],
    ['a command in a comment', '-- fine\n/* \\! touch /tmp/x */ select 1;\n', 2],
    ['a command after a string with an escaped quote', "select 'it\\'s';\n\\. /etc/passwd\n", 2],
    ['a command an executable comment hides from one reading', "/*!50003 SELECT '*/' */ ; \\! cmd\n", 1],
    ['a command the other reading hides', "/*! ' */ \\! cmd '\n", 1],
    ['"system" at the start of a statement', 'select 1;\nsystem touch /tmp/x\n', 2],
    ['"source" after spaces', 'select 1;\n   source /etc/passwd\n', 2],
    ['a command after a DELIMITER change', 'DELIMITER ;;\nselect 1;;\ntee /tmp/x\n', 3],
    ['a backslash where the sandbox marker should be', '/*M!999999\\! touch /tmp/x */\nselect 1;\n', 1],
  ])('refuses %s, naming the line', async (_what, text, line) => {
    await expect(through(clientCommandCheck('forged.sql.gz'), text)).rejects.toThrow(
      new RegExp(`^forged\\.sql\\.gz, line ${line}: `),
    );
    await expect(through(clientCommandCheck('forged.sql.gz'), text, 1)).rejects.toThrow(/line \d+: /);
  });

  it('sends nothing on before it has read it', async () => {
    const out: Buffer[] = [];
    const check = clientCommandCheck('forged');
    check.on('data', (chunk: Buffer) => out.push(chunk));
    await expect(
      pipeline(Readable.from([Buffer.from('CREATE TABLE ran (id int);\n\\! touch /tmp/x\n')]), check),
    ).rejects.toThrow(/line 2/);
    expect(Buffer.concat(out).toString()).not.toContain('CREATE TABLE');
  });
});

describe('a dump made portable to another user and database', () => {
  it('rewrites every definer to CURRENT_USER and the view to its own database, nothing else', async () => {
    const out = await through(portableDump(), DUMP);
    expect(out).not.toMatch(/DEFINER=`tenant_acme`/);
    expect(out.match(/DEFINER=CURRENT_USER/g)).toHaveLength(3);
    expect(out).toContain(
      '/*!50001 VIEW `loud` AS select `notes`.`id` AS `id`,`shout`(`notes`.`body`) AS `body` from `notes` */;',
    );
    // Data is never touched, whatever it holds.
    expect(out).toContain("(3,'DEFINER=`root`@`localhost` \\n system ls');");
    expect(out.split('\n')).toHaveLength(DUMP.split('\n').length);
    expect(await through(portableDump(), DUMP, 7)).toBe(out);
  });
});
