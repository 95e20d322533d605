/**
 * A probe for a bench server (`node --import ./bench/count-statements.ts …`): counts every
 * statement the process sends to PostgreSQL through `pg` (each is one round trip: pg does not
 * pipeline), by its text. SIGUSR2 writes the counts since the last signal to
 * $COUNT_STATEMENTS_FILE and starts again, so a bench can count exactly the requests it sends.
 */
import fs from 'node:fs';
import pg from 'pg';

const counts = new Map<string, number>();
const query = pg.Client.prototype.query as (this: pg.Client, ...args: unknown[]) => unknown;

pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
  const first = args[0];
  const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '?');
  const key = text.replace(/\s+/g, ' ').trim().slice(0, 120);
  counts.set(key, (counts.get(key) ?? 0) + 1);
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;

process.on('SIGUSR2', () => {
  const file = process.env.COUNT_STATEMENTS_FILE;
  if (file) fs.writeFileSync(file, JSON.stringify(Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]))));
  counts.clear();
});
