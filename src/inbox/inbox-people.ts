import type { Kysely } from 'kysely';
import { findReviewer } from '../approvals/decide-approval.ts';
import type { ApprovalRow, Database } from '../db/schema.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import type { Services } from '../services.ts';

/**
 * The web inbox's questions to the people directory, in one place: who a signed-in person is
 * (the `person` namespace: the directory's id), whether they are a current reviewer of an
 * approval, and who an address belongs to.
 */
export interface InboxPeople {
  /** The directory's person, or undefined: a session or token of a person since removed is worth nothing. */
  person(id: string): { id: string; email?: string; admin: boolean } | undefined;
  /** The person an email address belongs to (compared without case), for `POST /login`. */
  byEmail(address: string): { id: string; email: string } | undefined;
  /** Whether `person` may decide `approval` now: a reviewer of the project or of a tier it reached, as the decision engine sees it. */
  reviews(person: string, project: ProjectMapping, approval: Pick<ApprovalRow, 'escalation_tier' | 'policy' | 'provider'>): boolean;
  /** Whether a vote's reviewer (the mapping's entry, in the approval's provider) is `person`. */
  isEntryOf(person: string, entry: string, provider: string): boolean;
}

export async function loadInboxPeople(services: Pick<Services, 'people'>, db: Kysely<Database>): Promise<InboxPeople> {
  const people = await services.people.load(db);
  return {
    person(id) {
      const found = people.person(id);
      return found && { id: found.id, ...(found.email ? { email: found.email } : {}), admin: found.admin === true };
    },
    byEmail(address) {
      const found = people.personOf({ namespace: 'email', id: address });
      return found?.email ? { id: found.id, email: found.email } : undefined;
    },
    isEntryOf: (person, entry, provider) => people.personOfEntry(entry, provider)?.id === person,
    reviews: (person, project, approval) => findReviewer(people, project, approval, { namespace: 'person', id: person }) !== undefined,
  };
}
