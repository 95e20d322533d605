import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createMetrics } from '../../src/metrics/metrics.ts';
import type { Kysely } from 'kysely';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { openDatabase } from '../../src/db/open-database.ts';
import { createLogger } from '../../src/config/logger.ts';

/** Names of countersign metrics a PromQL expression uses, without histogram suffixes. */
const metricNames = (expr: string) => [...expr.matchAll(/\b(countersign_[a-z_]+?)(?:_bucket|_count|_sum)?\b(?=[{[\s)]|$)/g)].map((m) => m[1]!);

describe('the shipped dashboard and alert rules', () => {
  const exported = (async () => {
    // The pending gauge reads the database at scrape time, so the registry gets a real (empty) one.
    const database = await openDatabase({ kind: 'pglite', dataDir: 'memory' }, createLogger('silent'));
    try {
      await migrateToLatest(database.db as unknown as Kysely<unknown>);
      const text = await createMetrics(database.db).registry.metrics();
      return new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!));
    } finally {
      await database.close();
    }
  })();

  it('alert rules use only metrics the server exports', async () => {
    const rules = parseYaml(fs.readFileSync('deploy/prometheus/countersign-alerts.yml', 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    const names = rules.groups.flatMap((g) => g.rules.flatMap((r) => metricNames(r.expr)));
    expect(names.length).toBeGreaterThan(4);
    const have = await exported;
    for (const name of names) expect(have, `alert uses ${name}`).toContain(name);
  });

  it('dashboard panels use only metrics the server exports', async () => {
    const dashboard = JSON.parse(fs.readFileSync('deploy/grafana/countersign-dashboard.json', 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const names = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricNames(t.expr)));
    expect(names).toContain('countersign_queue_seconds');
    const have = await exported;
    for (const name of names) expect(have, `dashboard uses ${name}`).toContain(name);
  });
});
