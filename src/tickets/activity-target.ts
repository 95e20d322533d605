import type { Kysely } from 'kysely';
import type { ApprovalRow, BatchRow, Database } from '../db/schema.ts';
import { idKind } from '../primitives/ids.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { findProject } from '../projects/project-store.ts';

/**
 * What a ticket activity is about: a single approval, or a batch whose ticket speaks for all its
 * items, with the row and its project as read once on the webhook or reconciliation path. The
 * decision engine still reads the approval again under `FOR UPDATE` (its concurrency guard);
 * nothing between the two reads it.
 */
export type ActivityTarget =
  | { kind: 'approval'; id: string; approval: ApprovalRow; project: ProjectMapping }
  | { kind: 'batch'; id: string; batch: BatchRow; project: ProjectMapping };

/** How the caller finds a project by key; reconciliation passes one that remembers what it read. */
export type ProjectLookup = (key: string) => Promise<ProjectMapping | undefined>;

/**
 * Reads the approval or batch `targetId` names (an activity's `approvalId`, or the id a ticket
 * key resolved to) and its project; `undefined` when there is no such row or its project is no
 * longer mapped: an activity on it has nothing to act on.
 */
export async function resolveActivityTarget(db: Kysely<Database>, targetId: string, projects: ProjectLookup = (key) => findProject(db, key)): Promise<ActivityTarget | undefined> {
  if (idKind(targetId) === 'batch') {
    const batch = await db.selectFrom('batches').selectAll().where('id', '=', targetId).executeTakeFirst();
    const project = batch ? await projects(batch.project) : undefined;
    return batch && project ? { kind: 'batch', id: batch.id, batch, project } : undefined;
  }
  const approval = await db.selectFrom('approvals').selectAll().where('id', '=', targetId).executeTakeFirst();
  const project = approval ? await projects(approval.project) : undefined;
  return approval && project ? { kind: 'approval', id: approval.id, approval, project } : undefined;
}
