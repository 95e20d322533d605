import type { Command } from 'commander';
import { parseDuration } from '../../primitives/duration.ts';
import { badRequest } from '../../primitives/errors.ts';
import type { CliRuntime } from '../cli-runtime.ts';

export function registerReportCommands(program: Command, runtime: CliRuntime): void {
  const report = program.command('report').description('reports from the database, for a spreadsheet or a dashboard');

  report
    .command('latency')
    .description('one row per approval: created, ticket, first seen, decided, callback delivered, queue and end-to-end seconds, outcome')
    .option('--since <duration>', 'approvals created this long ago or later, e.g. 30d', '30d')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--json', 'the same as --format json')
    .action(async (opts: { since: string; format: string; json?: boolean }) => {
      const sinceMs = parseDuration(opts.since);
      if (sinceMs === undefined) throw badRequest('invalid_duration', `--since: "${opts.since}" is not a duration like 30d, 24h or 30m`);
      const format = opts.json ? 'json' : opts.format;
      if (format !== 'csv' && format !== 'json') throw badRequest('invalid_format', `--format: expected csv or json, not "${opts.format}"`);
      const output = await runtime.withServices(async (services) => {
        const { readLatencyRows, latencyCsv, LATENCY_COLUMNS } = await import('../../reports/latency-report.ts');
        const rows = await readLatencyRows(services.db, new Date(services.now().getTime() - sinceMs));
        return format === 'csv' ? latencyCsv(rows) : `${JSON.stringify({ columns: LATENCY_COLUMNS, rows }, null, 2)}\n`;
      });
      runtime.out(output);
    });
}
