import { writeFileSync } from 'node:fs';

/**
 * Where the time between a decision and its callback goes, step by step, for the callback
 * bench (bench/callback.bench.ts). Off unless COUNTERSIGN_STEP_TIMINGS_FILE names a file:
 * then each approval's steps are kept as wall-clock milliseconds with sub-millisecond
 * precision (comparable with the bench process's own clock) and written there as JSON when the
 * process exits. Off, `markStep` is one comparison.
 */
const file = process.env.COUNTERSIGN_STEP_TIMINGS_FILE;
const steps = new Map<string, Record<string, number>>();

if (file) process.once('exit', () => writeFileSync(file, JSON.stringify(Object.fromEntries(steps))));

export const stepTimingsOn = file !== undefined && file !== '';

/** Notes that `approvalId` reached `step` now (the first time only). */
export function markStep(approvalId: string, step: string): void {
  if (!stepTimingsOn) return;
  let marks = steps.get(approvalId);
  if (!marks) steps.set(approvalId, (marks = {}));
  marks[step] ??= performance.timeOrigin + performance.now();
}
