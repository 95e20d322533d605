import type { ApprovalRow, ApprovalStatus } from '../db/schema.ts';
import { badRequest } from '../primitives/errors.ts';
import { isProjectKey } from '../projects/mapping-schema.ts';
import type { Principal } from '../keys/api-keys.ts';
import type { Services } from '../services.ts';
import { requireProjectAccess, requireScope, requireVisibleApproval } from './access.ts';

export const MAX_WAIT_SECONDS = 60;

export async function getApproval(services: Services, principal: Principal, approvalId: string): Promise<ApprovalRow> {
  requireScope(principal, 'read');
  return requireVisibleApproval(principal, approvalId, await services.db.selectFrom('approvals').selectAll().where('id', '=', approvalId).executeTakeFirst());
}

/**
 * Long poll: holds until the approval leaves `pending` or `waitSeconds` pass. The
 * listener is registered before the re-read, so a decision committed in between is not missed.
 */
export async function waitForApproval(services: Services, principal: Principal, approvalId: string, waitSeconds: number, signal: AbortSignal): Promise<ApprovalRow> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const stop = new AbortController();
    const onOuterAbort = () => stop.abort();
    signal.addEventListener('abort', onOuterAbort, { once: true });
    const change = services.events.nextChange(approvalId, Math.max(0, deadline - Date.now()), stop.signal);
    try {
      const approval = await getApproval(services, principal, approvalId);
      if (approval.status !== 'pending' || Date.now() >= deadline || signal.aborted) return approval;
      if ((await change) !== 'changed') return await getApproval(services, principal, approvalId);
    } finally {
      stop.abort();
      signal.removeEventListener('abort', onOuterAbort);
    }
  }
}

export function parseWaitSeconds(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 0;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0 || seconds > MAX_WAIT_SECONDS) {
    throw badRequest('invalid_wait', `wait: expected seconds from 0 to ${MAX_WAIT_SECONDS}`);
  }
  return seconds;
}

const STATUSES: ApprovalStatus[] = ['pending', 'approved', 'rejected', 'expired', 'cancelled'];

export interface ListQuery {
  project?: string | undefined;
  status?: string | undefined;
  limit?: string | undefined;
  cursor?: string | undefined;
}

/**
 * Newest first, keyset-paginated on the id: ids are ULIDs, ordered by creation time, so
 * pages stay stable while approvals arrive.
 */
export async function listApprovals(services: Services, principal: Principal, query: ListQuery): Promise<{ items: ApprovalRow[]; nextCursor: string | null }> {
  requireScope(principal, 'read');
  if (query.project && !isProjectKey(query.project)) throw badRequest('invalid_project', 'project: expected a project key (lowercase letters, digits, ".", "_" or "-")');
  if (query.project) requireProjectAccess(principal, query.project);
  const project = query.project || principal.project || undefined;
  if (query.status && !STATUSES.includes(query.status as ApprovalStatus)) {
    throw badRequest('invalid_status', `status: expected one of ${STATUSES.join(', ')}`);
  }
  const limit = query.limit === undefined ? 50 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw badRequest('invalid_limit', 'limit: expected a whole number from 1 to 200');
  const after = query.cursor ? decodeCursor(query.cursor) : undefined;

  let select = services.db.selectFrom('approvals').selectAll();
  if (project) select = select.where('project', '=', project);
  if (query.status) select = select.where('status', '=', query.status as ApprovalStatus);
  if (after) {
    select = select.where('id', '<', after);
  }
  const rows = await select.orderBy('id', 'desc').limit(limit + 1).execute();
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

function encodeCursor(row: ApprovalRow): string {
  return Buffer.from(row.id).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!/^apr_[0-9a-z]{26}$/.test(id)) throw badRequest('invalid_cursor', 'cursor: not a cursor this API returned');
  return id;
}
