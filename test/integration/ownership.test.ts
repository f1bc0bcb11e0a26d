import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { readMark, writeMark } from '../helpers/ownership-marks.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

interface Finding {
  kind: string;
  severity: string;
  target: { type: string; name?: string };
  message: string;
}

// Two applications, each with a registry of its own, on one server, with the same naming template.
for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`ownership marks on ${engine}`, () => {
    const prefix = `own${randomBytes(3).toString('hex')}`;
    const env = {
      TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`,
      TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}`,
    };
    let first: Workspace;
    let second: Workspace;
    const dbs: string[] = [];
    beforeAll(() => {
      first = new Workspace(engine, { env });
      second = new Workspace(engine, { env });
    });
    afterAll(async () => {
      for (const db of dbs) await first.probe.drop(db, db).catch(() => undefined);
      await first.cleanup();
      await second.cleanup();
    });
    const create = async (ws: Workspace) => {
      const slug = ws.slug();
      dbs.push(`${prefix}_${slug}`);
      const result = await ws.run(['create', slug]);
      expect(result.code, result.stderr).toBe(0);
      return { slug, database: `${prefix}_${slug}` };
    };
    const doctor = async (ws: Workspace, ...args: string[]) => {
      const { result, data } = await ws.json(['doctor', ...args]);
      expect(result.stderr).not.toMatch(/please report/);
      return (data.findings as Finding[]).filter((f) => f.target.type === 'database' || f.target.type === 'user');
    };

    it("neither registry calls the other's databases orphans, and --drop-orphans never drops them", async () => {
      const mine = await create(first);
      const theirs = await create(second);
      const [myMark, theirMark] = [
        await readMark(engine, first.probe, mine.database),
        await readMark(engine, second.probe, theirs.database),
      ];
      expect(myMark).toMatch(/^[0-9a-f]{32}$/);
      expect(theirMark).toMatch(/^[0-9a-f]{32}$/);
      expect(myMark).not.toBe(theirMark);
      for (const [ws, other] of [
        [first, theirs.database],
        [second, mine.database],
      ] as const) {
        const found = await doctor(ws, '--fix', '--drop-orphans', '--yes');
        expect(found.filter((f) => f.kind.startsWith('orphan'))).toEqual([]);
        expect(found).toContainEqual(
          expect.objectContaining({
            kind: 'foreign_database',
            severity: 'info',
            target: expect.objectContaining({ name: other }),
            message: `database "${other}" matches the naming template, belongs to another registry or to none; left alone`,
          }),
        );
      }
      expect(await first.probe.databaseExists(mine.database)).toBe(true);
      expect(await first.probe.databaseExists(theirs.database)).toBe(true);
      // Their users too: a user is this registry's only if it recorded it or its database is marked so.
      expect(await first.probe.userExists(mine.database)).toBe(true);
      expect(await first.probe.userExists(theirs.database)).toBe(true);
      // Doctor exits 0 on a fleet with nothing but foreign databases around it.
      const clean = await second.json(['doctor']);
      expect(
        clean.data.findings.filter((f: Finding) => f.severity === 'problem'),
        clean.result.stdout,
      ).toEqual([]);
      expect(clean.result.code).toBe(0);
    });

    it('keeps the mark through a restore, and its own marked database with no row is unregistered (to it alone)', async () => {
      const mine = await create(first);
      const mark = await readMark(engine, first.probe, mine.database);
      expect((await first.run(['backup', mine.slug])).code).toBe(0);
      const restored = await first.run(['restore', mine.slug, '--force']);
      expect(restored.code, restored.stderr).toBe(0);
      expect(await readMark(engine, first.probe, mine.database)).toBe(mark);
      expect((await first.run(['migrate', mine.slug])).code).toBe(0);
      expect(await readMark(engine, first.probe, mine.database)).toBe(mark); // the stamp kept it (PostgreSQL)

      // A database of the first registry's that it lost track of (a registry restored from an older
      // backup): unregistered, to adopt back, never an orphan to drop; the second's foreign.
      const lost = `${prefix}_lost${randomBytes(2).toString('hex')}`;
      dbs.push(lost);
      await first.probe.createDatabase(lost);
      await writeMark(engine, first.probe, lost, mark);
      expect((await doctor(second)).find((f) => f.target.name === lost)?.kind).toBe('foreign_database');
      expect((await doctor(first)).find((f) => f.target.name === lost)?.kind).toBe('unregistered_database');
      // Marked by nobody: foreign to both.
      await writeMark(engine, first.probe, lost, null);
      expect((await doctor(first)).find((f) => f.target.name === lost)?.kind).toBe('foreign_database');

      // A tenant from before marks: a notice, and --fix marks it.
      await writeMark(engine, first.probe, mine.database, null);
      const unmarked = (await first.json(['doctor'])).data.findings.find(
        (f: Finding) => f.kind === 'unmarked_database',
      );
      expect(unmarked).toMatchObject({ severity: 'notice', tenant: mine.slug, autoFix: true });
      expect((await first.json(['doctor', '--fix'])).data.findings).toContainEqual(
        expect.objectContaining({ kind: 'unmarked_database', fixed: true }),
      );
      expect(await readMark(engine, first.probe, mine.database)).toBe(mark);
    });
  });
}
