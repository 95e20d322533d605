import type { AppDatabase } from './open-database.ts';

/** NOTIFY channel carrying the id of an approval whose status changed, from any instance. */
export const APPROVAL_CHANNEL = 'countersign_approvals';

export type WakeReason = 'changed' | 'timeout' | 'aborted';

export interface ApprovalEvents {
  start(): Promise<void>;
  /**
   * Resolves on the next change of `approvalId`, after `timeoutMs`, when `signal` aborts,
   * or at once with 'aborted' once the process is shutting down. Registers synchronously.
   */
  nextChange(approvalId: string, timeoutMs: number, signal?: AbortSignal): Promise<WakeReason>;
  /** Ends every pending wait with 'aborted', so long polls answer before shutdown. */
  stop(): Promise<void>;
}

/**
 * One LISTEN per process fans out to the long polls waiting in it. On PostgreSQL the
 * notification comes from whichever instance committed the decision; an empty payload
 * (sent after a reconnect) wakes every waiter to re-read.
 */
export function createApprovalEvents(database: AppDatabase): ApprovalEvents {
  const waiters = new Map<string, Set<(reason: WakeReason) => void>>();
  let unlisten: (() => Promise<void>) | undefined;
  let stopped = false;

  const wakeAll = (reason: WakeReason) => {
    for (const set of [...waiters.values()]) for (const finish of [...set]) finish(reason);
  };
  const onNotification = (approvalId: string) => {
    if (approvalId === '') wakeAll('changed');
    else for (const finish of [...(waiters.get(approvalId) ?? [])]) finish('changed');
  };

  return {
    async start() {
      stopped = false;
      unlisten ??= await database.listen(APPROVAL_CHANNEL, onNotification);
    },
    nextChange(approvalId, timeoutMs, signal) {
      return new Promise((resolve) => {
        if (stopped || signal?.aborted) return resolve('aborted');
        let set = waiters.get(approvalId);
        if (!set) waiters.set(approvalId, (set = new Set()));
        const waiterSet = set;
        const finish = (reason: WakeReason) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          waiterSet.delete(finish);
          if (waiterSet.size === 0) waiters.delete(approvalId);
          resolve(reason);
        };
        const onAbort = () => finish('aborted');
        const timer = setTimeout(() => finish('timeout'), timeoutMs);
        waiterSet.add(finish);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    async stop() {
      stopped = true;
      wakeAll('aborted');
      const release = unlisten;
      unlisten = undefined;
      await release?.().catch(() => undefined);
    },
  };
}
