import fs from 'node:fs';

/** The package's version, read from its package.json: two levels up from src/primitives/ and dist/primitives/ alike. */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
