import { afterAll, beforeAll, expect, it } from 'vitest';
import { readAuditRecords, readAuditSnapshot, toAuditRecord } from '../../src/audit/read-audit-snapshot.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { appendTestRecords, startAuditServices, type AuditTestServices } from '../helpers/audit-fixtures.ts';

// PostgreSQL's pages come as rows, PGlite's as one JSON text each (read-audit-snapshot.ts):
// either way a record must read as the row form gives it, or a log would verify on one
// database and fail on the other (or a changed field pass on one).
describeEachDatabase('readAuditRecords', (database) => {
  let t: AuditTestServices;

  beforeAll(async () => {
    t = await startAuditServices(database);
    await appendTestRecords(t.services, 5);
    const odd = { text: 'tab\there, quote " and \\ backslash, line\nbreak, é, 😀, \u2028', nested: { b: [1, 2.5, -0, 1.5e-7, null, true], a: {} }, empty: '', '': 'empty key', big: 2 ** 53 - 1 };
    await t.services.db.transaction().execute((trx) => t.services.audit.append(trx, { event: 'project.changed', approvalId: null, actor: { kind: 'admin', id: 'operator', via: 'cli' }, data: odd }));
    await t.services.audit.flush();
  });
  afterAll(() => t?.close());

  it('reads every record as the row form gives it, in order, in and across pages', async () => {
    const rows = await t.services.db.selectFrom('audit_records').selectAll().orderBy('seq').execute();
    const expected = rows.map(toAuditRecord);
    const read = [];
    for await (const page of readAuditRecords(t.services.db, 0, expected.length)) read.push(...page);
    expect(read).toEqual(expected);
    // An export writes a record's fields in the order read.
    for (const record of read) expect(Object.keys(record)).toEqual(Object.keys(expected[0]!));
    expect(read.at(-1)).toMatchObject({ approvalId: null, event: 'project.changed' });

    const tail = [];
    for await (const page of readAuditRecords(t.services.db, 3, 5)) tail.push(...page);
    expect(tail).toEqual(expected.slice(3, 5));
    expect(await verifyAuditLog(await readAuditSnapshot(t.services.db))).toMatchObject({ ok: true, records: expected.length });
  });

  it('reads nothing past `through`, and nothing for an empty range', async () => {
    const none = [];
    for await (const page of readAuditRecords(t.services.db, 4, 4)) none.push(...page);
    expect(none).toEqual([]);
    const pages = [];
    for await (const page of readAuditRecords(t.services.db, 0, 2)) pages.push(page.map((r) => r.seq));
    expect(pages).toEqual([[1, 2]]);
  });

  it('reads the same records whatever the page and chunk sizes, a page ending exactly at `through` or not', async () => {
    const rows = await t.services.db.selectFrom('audit_records').selectAll().orderBy('seq').execute();
    const expected = rows.map(toAuditRecord);
    for (const sizes of [{ page: 2, chunk: 1 }, { page: 3, chunk: 2 }, { page: 6, chunk: 4 }, { page: 1, chunk: 5 }]) {
      const read = [];
      for await (const batch of readAuditRecords(t.services.db, 0, expected.length, sizes)) read.push(...batch);
      expect(read, JSON.stringify(sizes)).toEqual(expected);
      const middle = [];
      for await (const batch of readAuditRecords(t.services.db, 1, 5, sizes)) middle.push(...batch);
      expect(middle.map((r) => r.seq), JSON.stringify(sizes)).toEqual([2, 3, 4, 5]);
    }
  });

  it('gives its connection back when the reader stops early, as verify does at the first failure', async () => {
    for (let i = 0; i < 15; i += 1) {
      for await (const batch of readAuditRecords(t.services.db, 0, 6, { page: 3, chunk: 1 })) if (batch.length > 0) break;
    }
    // The pool holds ten connections: a cursor left open would have kept one each time, and this read would wait for a free one until the test timed out.
    const all = [];
    for await (const batch of readAuditRecords(t.services.db, 0, 6, { page: 3, chunk: 1 })) all.push(...batch);
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
