import type { NotificationChannel } from '../notification-channel.ts';
import { approvalEmail } from './approval-email.ts';
import type { Mailer } from './mailer.ts';

/** Makes the link an email carries: the approval page with a single-use token bound to the approval, the person and the payload hash. */
export type ApprovalLinkMinter = (binding: { person: string; approvalId: string; payloadHash: string }) => Promise<string>;

export interface EmailChannelOptions {
  mailer: Mailer;
  /** Wired by start-services to the web inbox's tokens (a layer above this one). */
  approvalLink: ApprovalLinkMinter;
}

/**
 * Email as a notification channel (`notify.email`, or any `local` project when SMTP is set):
 * each current-tier reviewer with an address gets the approval's email when it needs them, at
 * intake and at each escalation. Votes, decisions and cancellations are emailed to nobody: the
 * page shows them. Email never decides (`decides: false`): its link opens the web inbox.
 *
 * Sent from the channel-notice job: a failed send throws and the job retries it, and the retry
 * mails only the reviewers the failed run did not reach (`context.once`). Nobody is lost; a crash
 * right after a send, before it was recorded, may mail that one reviewer twice.
 */
export function createEmailChannel(options: EmailChannelOptions): NotificationChannel {
  return {
    name: 'email',
    capabilities: { decides: false, updatesInPlace: false, reconciles: false },
    address: 'email',
    // Registered only when SMTP is set: then every `local` project (no ticket system to tell anyone) and any project with `notify.email`.
    appliesTo: (project) => project.notify?.email === true || project.provider === 'local',
    // Addresses compare without case (their domain part does; the local part does in practice).
    identities: { caseInsensitive: true },
    async notify(notice, _previous, context) {
      if (notice.kind !== 'needs-review') return undefined;
      const once = context?.once ?? ((_key: string, send: () => Promise<void>) => send());
      for (const recipient of notice.recipients) {
        await once(recipient.address, async () => {
          const link = await options.approvalLink({ person: recipient.person, approvalId: notice.approval.approvalId, payloadHash: notice.approval.payloadHash });
          await options.mailer.sendMail(approvalEmail(recipient.address, notice.approval, link, notice.tier));
        });
      }
      return undefined;
    },
  };
}
