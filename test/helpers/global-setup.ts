/**
 * Says once per run which Node runs the tests (the CI log's proof that it is the project's
 * Node 24 from node_modules/.bin, not the system's), and says loudly when the PostgreSQL half
 * of the database tests is skipped.
 */
export default function setup(): void {
  console.log(`\nTests run on Node ${process.version} (${process.execPath})\n`);
  if (!process.env.TEST_DATABASE_URL) {
    const line = '='.repeat(78);
    console.warn(`\n${line}\n  PostgreSQL tests SKIPPED: TEST_DATABASE_URL is not set.\n  Every database test ran on PGlite only. To run them on PostgreSQL too:\n    TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm test\n${line}\n`);
  }
}
