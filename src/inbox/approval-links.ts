import type { Services } from '../services.ts';
import { mintApprovalToken } from './inbox-tokens.ts';

/**
 * The link an email carries (the email channel's `approvalLink`): the approval's page with a
 * single-use token for this person and payload. Opening it shows the page; its form decides.
 */
export function approvalLinkMinter(services: Pick<Services, 'db' | 'config' | 'now'>) {
  return async (binding: { person: string; approvalId: string; payloadHash: string }): Promise<string> => {
    const token = await mintApprovalToken(services.db, binding, services.now());
    return `${services.config.publicUrl}/approvals/${binding.approvalId}?t=${token}`;
  };
}
