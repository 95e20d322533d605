import { sql, type Kysely, type Transaction } from 'kysely';
import type { AuditActor, AuditEntry } from '../audit/audit-record.ts';
import { toJson } from '../db/json.ts';
import type { Database } from '../db/schema.ts';
import { canonicalJson } from '../primitives/canonical-json.ts';
import type { Person } from './mapping-schema.ts';

/** The people directory as stored, ordered by id. */
export async function listPeople(db: Kysely<Database>): Promise<Person[]> {
  const rows = await db.selectFrom('people').select('person').orderBy('id').execute();
  return rows.map((row) => row.person as Person);
}

/** {@link listPeople} as an expression (one JSON array), for a statement that reads more besides. */
export const allPeopleJson = sql<Person[]>`coalesce((select json_agg(person order by id) from people), '[]'::json)`;

export type PeopleChange = { added: string[]; updated: string[]; removed: string[] };

/**
 * Makes the directory exactly `people`, in the caller's transaction (a mapping file applies
 * whole or not at all); the caller audits the change with {@link peopleAuditEntry}, last.
 */
export async function replacePeople(trx: Transaction<Database>, people: readonly Person[]): Promise<PeopleChange> {
  const before = new Map((await listPeople(trx)).map((person) => [person.id, person]));
  const change: PeopleChange = { added: [], updated: [], removed: [] };
  for (const person of people) {
    const old = before.get(person.id);
    before.delete(person.id);
    if (old && canonicalJson(old) === canonicalJson(person)) continue;
    await trx
      .insertInto('people')
      .values({ id: person.id, person: toJson(person) })
      .onConflict((oc) => oc.column('id').doUpdateSet({ person: toJson(person), updated_at: new Date() }))
      .execute();
    (old ? change.updated : change.added).push(person.id);
  }
  change.removed = [...before.keys()];
  if (change.removed.length > 0) await trx.deleteFrom('people').where('id', 'in', change.removed).execute();
  return change;
}

/** The audit entry of a change to the directory; none when nothing changed. */
export function peopleAuditEntry(change: PeopleChange, people: readonly Person[], actor: AuditActor): AuditEntry | undefined {
  if (change.added.length + change.updated.length + change.removed.length === 0) return undefined;
  return { event: 'people.changed', actor, data: { ...change, people: [...people] } };
}
