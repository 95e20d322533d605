import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const built = new URL('../../dist/cli/main.js', import.meta.url);
const sources = new URL('../../src/', import.meta.url);

/** The rule bin/countersign.js uses: dist/ is current when no source file is newer than it. */
function distIsCurrent(): boolean {
  const builtAt = fs.statSync(built, { throwIfNoEntry: false })?.mtimeMs;
  if (builtAt === undefined) return false;
  return fs.readdirSync(sources, { recursive: true, withFileTypes: true }).every((entry) => !entry.isFile() || fs.statSync(`${entry.parentPath}/${entry.name}`).mtimeMs <= builtAt);
}

/**
 * Says once per run which Node runs the tests (the CI log's proof that it is the project's
 * Node 24 from node_modules/.bin, not the system's), and says loudly when the PostgreSQL half
 * of the database tests is skipped.
 */
export default function setup(): void {
  console.log(`\nTests run on Node ${process.version} (${process.execPath})\n`);
  // Built once here, before any test starts the CLI or packs the package, so no test reads
  // dist/ while another writes it (`npm ci` built it already; this is for edited sources).
  if (!distIsCurrent()) {
    console.log('Sources changed since dist/ was built: npm run build');
    execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  }
  if (!process.env.TEST_DATABASE_URL) {
    const line = '='.repeat(78);
    console.warn(`\n${line}\n  PostgreSQL tests SKIPPED: TEST_DATABASE_URL is not set.\n  Every database test ran on PGlite only. To run them on PostgreSQL too:\n    TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm test\n${line}\n`);
  }
}
