import { toApprovalDetailView, toApprovalView } from '../approvals/approval-view.ts';
import { cancelApproval } from '../approvals/cancel-approval.ts';
import { getApproval, waitForApproval } from '../approvals/read-approvals.ts';
import { createApproval } from '../intake/create-approval.ts';
import type { Principal } from '../keys/api-keys.ts';
import { notFound } from '../primitives/errors.ts';
import { isApprovalId } from '../primitives/ids.ts';
import type { Services } from '../services.ts';
import type { ApprovalOperations } from './approval-operations.ts';

/**
 * The tools' operations inside the server, for `POST /mcp`: the functions the HTTP routes
 * call, with the caller's key, so the scopes, project restrictions, validation and
 * idempotency are the API's own.
 */
export function inProcessOperations(services: Services, principal: Principal): ApprovalOperations {
  return {
    request: async (body, idempotencyKey) => (await createApproval(services, principal, body, idempotencyKey)).approval,
    async get(id, waitSeconds, signal) {
      requireApprovalId(id);
      // As GET /v1/approvals/{id} answers: with the payload to act on (a reviewer's edit, if any).
      if (waitSeconds === 0) return toApprovalDetailView(await getApproval(services, principal, id));
      return toApprovalDetailView(await waitForApproval(services, principal, id, waitSeconds, signal ?? new AbortController().signal));
    },
    cancel: async (id) => toApprovalView(await cancelApproval(services, principal, requireApprovalId(id))),
  };
}

/** As the routes' path check: what is not an approval id names nothing, and never reaches a query. */
function requireApprovalId(id: string): string {
  if (!isApprovalId(id)) throw notFound('no such approval: ids look like apr_ and 26 letters and digits');
  return id;
}
