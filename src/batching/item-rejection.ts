import { leadingApprovalId } from '../primitives/ids.ts';

/**
 * `/reject apr_… <reason>` on a batch ticket: the item the reason starts with, and the rest as
 * that item's own reason; `undefined` when the reason names no item (the whole batch is rejected).
 *
 * @example
 * itemRejection('apr_01j… wrong amount') // { approvalId: 'apr_01j…', reason: 'wrong amount' }
 */
export function itemRejection(reason: string | null): { approvalId: string; reason: string | null } | undefined {
  const named = leadingApprovalId(reason ?? '');
  return named ? { approvalId: named.id, reason: named.rest.trim() || null } : undefined;
}
