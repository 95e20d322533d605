import { stringify } from 'csv-stringify/sync';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

/** The columns of `countersign report latency`, in order (docs/audit.md describes each). */
export const LATENCY_COLUMNS = [
  'id',
  'project',
  'risk',
  'created',
  'ticket_created',
  'first_seen',
  'decided',
  'callback_delivered',
  'queue_seconds',
  'end_to_end_seconds',
  'outcome',
  'decided_by',
] as const;

export type LatencyRow = Record<(typeof LATENCY_COLUMNS)[number], string | number | null>;

const PAGE = 1000;
const iso = (date: Date | null | undefined) => (date ? date.toISOString() : null);
const seconds = (from: Date, to: Date | null | undefined) => (to ? Math.round((to.getTime() - from.getTime()) / 100) / 10 : null);

/**
 * One row per approval created since `since`, oldest first (by id: ULIDs sort by creation), from the database:
 *
 * - `ticket_created`: the `ticket.created` audit record (its batch's, for a batched request);
 *   the request itself for the `local` provider, whose ticket is the approval.
 * - `first_seen`: the first reviewer activity Countersign knows of (a counted vote); null
 *   until a reviewer acts, since providers do not say when a ticket was read.
 * - `queue_seconds`: created → decided. `end_to_end_seconds`: created → callback delivered,
 *   or → decided for a request without a callback.
 */
export async function readLatencyRows(db: Kysely<Database>, since: Date): Promise<LatencyRow[]> {
  const rows: LatencyRow[] = [];
  // Paged by id: ids are monotonic ULIDs, so they sort in creation order, and a key of text
  // compares exactly (a timestamp read back as a JS Date has lost PostgreSQL's microseconds).
  let after: string | undefined;
  for (;;) {
    let query = db
      .selectFrom('approvals as a')
      .leftJoin('callback_deliveries as c', 'c.approval_id', 'a.id')
      .leftJoin('batches as b', 'b.id', 'a.batch_id')
      .select(['a.id', 'a.project', 'a.provider', 'a.risk', 'a.created_at', 'a.decided_at', 'a.status', 'a.decision', 'a.ticket', 'a.callback_url', 'c.delivered_at', 'b.closed_at as batch_closed_at'])
      .where('a.created_at', '>=', since);
    if (after) query = query.where('a.id', '>', after);
    const page = await query.orderBy('a.id').limit(PAGE).execute();
    if (page.length === 0) return rows;
    const ids = page.map((row) => row.id);
    const tickets = new Map(
      (await db.selectFrom('audit_records').select(['approval_id', (eb) => eb.fn.min('time').as('at')]).where('event', '=', 'ticket.created').where('approval_id', 'in', ids).groupBy('approval_id').execute()).map((r) => [r.approval_id, new Date(r.at)]),
    );
    const seen = new Map((await db.selectFrom('decision_votes').select(['approval_id', (eb) => eb.fn.min('created_at').as('at')]).where('approval_id', 'in', ids).groupBy('approval_id').execute()).map((r) => [r.approval_id, new Date(r.at)]));
    for (const row of page) {
      const ticketCreated = tickets.get(row.id) ?? (row.batch_closed_at && row.ticket ? row.batch_closed_at : row.ticket && row.provider === 'local' ? row.created_at : null);
      const endToEnd = row.callback_url ? row.delivered_at : row.decided_at;
      rows.push({
        id: row.id,
        project: row.project,
        risk: row.risk,
        created: iso(row.created_at),
        ticket_created: iso(ticketCreated),
        first_seen: iso(seen.get(row.id)),
        decided: iso(row.decided_at),
        callback_delivered: iso(row.delivered_at),
        queue_seconds: seconds(row.created_at, row.decided_at),
        end_to_end_seconds: seconds(row.created_at, endToEnd),
        outcome: row.status,
        decided_by: row.decision ? row.decision.by.join(' ') : null,
      });
    }
    if (page.length < PAGE) return rows;
    after = page.at(-1)!.id;
  }
}

/**
 * RFC 4180 CSV (CRLF, quoted where needed) by csv-stringify, with `escape_formulas`: a cell a
 * spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`.
 */
export function latencyCsv(rows: readonly LatencyRow[]): string {
  return stringify(
    rows.map((row) => LATENCY_COLUMNS.map((column) => row[column] ?? '')),
    { header: true, columns: [...LATENCY_COLUMNS], escape_formulas: true, record_delimiter: 'windows' },
  );
}
