import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/config/logger.ts';
import { executorFor, openDatabase, type AppDatabase } from '../../src/db/open-database.ts';
import { createJobQueue, type JobQueue } from '../../src/jobs/job-queue.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { until } from '../helpers/until.ts';

/**
 * Found by the soak (issue 19): a worker fetched 20 jobs and pg-boss fetched no more until the
 * slowest of them returned, so one provider call that hung (or waited out GitHub's pacing) kept
 * every job queued behind it waiting: approvals sat for minutes without their ticket.
 */
describeEachDatabase('a job that hangs does not hold up the rest of its queue', (database) => {
  let app: AppDatabase;
  let jobs: JobQueue;
  let dispose: () => Promise<void>;
  const ran: string[] = [];
  const hung: Array<() => void> = [];

  beforeAll(async () => {
    const created = await database.create();
    dispose = created.dispose;
    app = await openDatabase(created.target, createLogger('silent'));
    // Polling far off: only the commit-time wake-up and the slots find the jobs below.
    jobs = createJobQueue(app, createLogger('silent'), { pollingIntervalSeconds: 600 });
    await jobs.start({ workers: true });
    await jobs.work('ticket-update', async ({ approvalId }) => {
      if (approvalId.startsWith('hang')) await new Promise<void>((resolve) => hung.push(resolve));
      ran.push(approvalId);
    });
  });
  afterAll(async () => {
    for (const release of hung) release();
    await jobs?.stop(1000);
    await app?.close();
    await dispose?.();
  });

  const send = (approvalId: string) => jobs.send(executorFor(app.db), 'ticket-update', { approvalId, update: 'decided' });

  it('runs jobs sent while others hang, and jobs sent after a burst', async () => {
    // More hanging jobs than one fetch takes, so a design that waits for its fetch is caught.
    for (let i = 0; i < 6; i++) await send(`hang-${i}`);
    await until(() => hung.length, (n) => n === 6);
    for (let i = 0; i < 30; i++) await send(`apr_after_${i}`);
    const done = await until(() => ran.filter((id) => id.startsWith('apr_after_')).length, (n) => n === 30);
    expect(done).toBe(30);
    // The hung ones are still running: nothing waited for them.
    expect(ran.some((id) => id.startsWith('hang'))).toBe(false);
  });
});
