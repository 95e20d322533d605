import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The rule of the README's code map, as .dependency-cruiser.mjs writes it down. */
const options = await extractDepcruiseOptions(path.join(ROOT, '.dependency-cruiser.mjs'));

async function cruiseSrc(baseDir: string, cruiseOptions: ICruiseOptions, tsConfig?: string): Promise<ICruiseResult> {
  const reported = await cruise(['src'], { ...cruiseOptions, baseDir }, undefined, tsConfig ? { tsConfig: extractTSConfig(path.join(baseDir, tsConfig)) } : undefined);
  return reported.output as ICruiseResult;
}

/** One line per broken rule, naming the edge (and the circle's way back), e.g. `layer:db: src/db/schema.ts → src/audit/…`. */
const violations = (result: ICruiseResult) =>
  result.summary.violations.map((v) => {
    const cycle = v.cycle?.length ? ` (circle: ${[v.from, ...v.cycle.map((step) => step.name)].join(' → ')})` : '';
    return `${v.rule.name}: ${v.from} → ${v.to}${cycle}`;
  });

describe('the layers of src/ (README, "Code map")', () => {
  it('src/ has no import circle and no import from a lower layer to a higher one, type-only imports included', async () => {
    const result = await cruiseSrc(ROOT, options, 'tsconfig.json');
    expect(violations(result)).toEqual([]);
    // The cruise read the whole tree and saw type-only imports: a rule checked over nothing would pass too.
    const sources = new Set(result.modules.map((m) => m.source));
    expect(sources).toContain('src/start-services.ts');
    expect(sources).toContain('src/client/index.ts');
    expect(sources).toContain('src/mcp/create-mcp-server.ts');
    const auditEntry = result.modules.find((m) => m.source === 'src/approvals/decision-audit-entry.ts');
    expect(auditEntry?.dependencies.find((d) => d.resolved === 'src/approvals/decision-attempt.ts')?.dependencyTypes).toContain('type-only');
  });

  it('names the offending edge of an upward import, a circle, an unlayered folder, a client that reaches into the server and a server that uses the agent\'s client', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-layers-'));
    try {
      const files: Record<string, string> = {
        'src/primitives/leaf.ts': "import type { Table } from '../db/table.ts';\nexport type Leaf = Table;\n",
        'src/db/table.ts': "import type { Leaf } from '../primitives/leaf.ts';\nexport interface Table { leaf?: Leaf }\n",
        'src/gadgets/gadget.ts': "import type { Leaf } from '../primitives/leaf.ts';\nexport type Gadget = Leaf;\n",
        'src/client/client.ts': "import type { Table } from '../db/table.ts';\nexport type Client = Table;\n",
        // The MCP stdio server is a client of the HTTP API, as agents are; the server itself is not.
        'src/mcp/stdio.ts': "import type { Client } from '../client/client.ts';\nexport type Stdio = Client;\n",
        'src/server/edge.ts': "import type { Client } from '../client/client.ts';\nexport type Edge = Client;\n",
      };
      for (const [name, text] of Object.entries(files)) {
        await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
        await fs.writeFile(path.join(dir, name), text);
      }
      const found = violations(await cruiseSrc(dir, options));
      expect(found).toContain('layer:primitives: src/primitives/leaf.ts → src/db/table.ts');
      expect(found).toContain('layer:client: src/client/client.ts → src/db/table.ts');
      expect(found).toContain('unlayered: src/gadgets/gadget.ts → src/primitives/leaf.ts');
      expect(found).toContain('layer:server: src/server/edge.ts → src/client/client.ts');
      expect(found.filter((line) => line.startsWith('layer:mcp: '))).toEqual([]);
      expect(found.some((line) => line.startsWith('no-circular: ') && line.includes('src/db/table.ts → src/primitives/leaf.ts'))).toBe(true);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
