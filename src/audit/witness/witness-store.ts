/**
 * A place outside the database that keeps copies of the log's signed checkpoints, so a
 * rewrite of the whole database (re-signed with a key of the intruder's own) still shows:
 * `countersign audit verify --witness SPEC` checks the log against every checkpoint here.
 * One implementation per kind of place: `dir-witness.ts`, `github-witness.ts`.
 */
export interface WitnessStore {
  /** The spec it was made from (`dir:/path`, `github:owner/repo#12`): how failures and logs name it. */
  readonly spec: string;
  /** Keeps one checkpoint (C2SP signed note). Publishing the same checkpoint again changes nothing. */
  publish(checkpoint: WitnessCheckpoint): Promise<void>;
  /** Every checkpoint held, each with the name a failure gives it (a file name, a comment URL). */
  read(): Promise<Array<{ name: string; note: string }>>;
}

export interface WitnessCheckpoint {
  treeSize: number;
  note: string;
}

/** A witness already holds another checkpoint of the same tree size: the log signed two different trees of one size. */
export class WitnessConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WitnessConflictError';
  }
}
