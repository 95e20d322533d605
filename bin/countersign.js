#!/usr/bin/env node
// Runs the compiled dist/ that `npm ci` builds (the `prepare` script): plain JavaScript starts
// fastest, with no transpiler at all. Where a source file is newer than that build (someone is
// editing src/), it runs the sources instead, which Node 24 strips of their types itself
// (erasable syntax only; tsconfig's erasableSyntaxOnly holds them to it), so the CLI never
// runs stale code. An installed package has dist/ alone.
import fs from 'node:fs';
import module from 'node:module';

// V8's compiled code for our modules and commander, kept on disk (in the OS temp folder) from
// one start to the next: --help then costs little more than Node's own start-up.
module.enableCompileCache?.();

const built = new URL('../dist/cli/main.js', import.meta.url);
const sources = new URL('../src/', import.meta.url);

/** Whether dist/ exists and no source file is newer than it. */
function builtAndCurrent() {
  let builtAt;
  try {
    builtAt = fs.statSync(built).mtimeMs;
  } catch {
    return false;
  }
  if (!fs.existsSync(sources)) return true;
  // About 100 stats: a few milliseconds, against ~100 ms for stripping the types at every start.
  for (const entry of fs.readdirSync(sources, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && fs.statSync(`${entry.parentPath}/${entry.name}`).mtimeMs > builtAt) return false;
  }
  return true;
}

let entry = built;
if (!builtAndCurrent()) {
  if (!process.features.typescript) {
    process.stderr.write(`countersign: needs Node.js 24 (this is ${process.version}); run it as \`npx countersign\` or through npm, which use the project's own Node 24 in node_modules/.bin\n`);
    process.exit(2);
  }
  entry = new URL('../src/cli/main.ts', import.meta.url);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
