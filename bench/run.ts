/**
 * `npm run bench`: every benchmark in bench/, one after another on a quiet machine, with the
 * results printed and written to bench/results/latest.json. Pick some with
 * `npm run bench -- intake callback`: their results replace those entries of latest.json,
 * each stamped with when it ran, and the others stay.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

const ALL = ['cli', 'intake', 'audit-cost', 'callback', 'timers', 'audit-verify', 'provider-calls', 'github-webhook', 'jira-webhook', 'slack', 'restart', 'job-start', 'idle', 'mcp', 'inbox'];

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const names = wanted.length > 0 ? wanted : ALL;
const LATEST = 'bench/results/latest.json';
const previous = (await fs.readFile(LATEST, 'utf8').then((text) => JSON.parse(text) as Record<string, unknown>).catch(() => ({}))) as Record<string, unknown>;
const results: Record<string, unknown> = { ...previous, machine: { node: process.version, cpus: (await import('node:os')).cpus().length } };

for (const name of names) {
  const file = path.resolve('bench', `${name}.bench.ts`);
  try {
    await fs.access(file);
  } catch {
    results[name] = { skipped: `no ${path.relative('.', file)}` };
    continue;
  }
  process.stderr.write(`running ${name} …\n`);
  const started = Date.now();
  const bench = (await import(file)) as { run: () => Promise<Record<string, unknown>> };
  results[name] = { ...(await bench.run()), seconds: Math.round((Date.now() - started) / 1000), at: new Date().toISOString() };
  process.stdout.write(`${name}: ${JSON.stringify(results[name], null, 2)}\n`);
}

await fs.mkdir('bench/results', { recursive: true });
await fs.writeFile(LATEST, `${JSON.stringify(results, null, 2)}\n`);
