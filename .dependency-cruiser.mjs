/**
 * The import rule of src/ (README, "Code map"), checked by test/unit/architecture.test.ts and by
 * `npx depcruise src` (this file is its default config).
 *
 * Layers, bottom first. A folder (or a top-level file) may import itself and any layer below its
 * own, never one above nor a neighbour in its own row: a lower module that needs something of a
 * higher one declares the interface itself, and start-services.ts wires the two together.
 * A new folder goes into a row here, or the `unlayered` rule fails.
 */
const LAYERS = [
  ['primitives'],
  ['contract', 'config'],
  ['db'],
  ['jobs', 'metrics', 'audit'],
  ['callbacks', 'projects'],
  ['keys', 'rules', 'providers'],
  // The people directory and the notification channels: above the providers whose identities they read, below the engine that asks them.
  // Standing grants: created by the engine, matched at intake.
  ['channels', 'grants'],
  // The audit witnesses' stores (GitHub's over the provider's client), the weekly review and the latency report: read the log, the projects and the providers.
  ['witness', 'review', 'reports'],
  ['services.ts'],
  ['approvals'],
  ['batching', 'escalation'],
  ['intake', 'tickets'],
  // The web inbox's sessions, tokens, reads and pages: it decides through the engine and batches, and reads what tickets and intake wrote.
  ['inbox'],
  // The MCP tools: over the HTTP API through countersign/client (stdio), or over intake and the engine in-process (POST /mcp).
  ['mcp'],
  ['start-services.ts'],
  ['server'],
  ['cli'],
];

/** The agent's package (`countersign/client`) stands apart: it ships alone, with the wire contract and the primitives. */
const CLIENT_MAY_IMPORT = ['client', 'primitives', 'contract'];

/** Layers that may use the agent's package as its users do: `countersign mcp` is a client of the HTTP API. */
const CLIENT_USERS = ['mcp'];

const pathOf = (unit) => (unit.endsWith('.ts') ? `^src/${unit.replaceAll('.', '\\.')}$` : `^src/${unit}/`);

const layerRules = LAYERS.flatMap((row, index) =>
  row.map((unit) => ({
    name: `layer:${unit}`,
    comment: `src/${unit} may import only itself and the layers below it: ${LAYERS.slice(0, index).flat().join(', ') || 'none'}`,
    severity: 'error',
    from: { path: pathOf(unit) },
    to: { path: '^src/', pathNot: [pathOf(unit), ...LAYERS.slice(0, index).flat().map(pathOf), ...(CLIENT_USERS.includes(unit) ? [pathOf('client')] : [])] },
  })),
);

export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import circle: the modules in it can only be understood, tested and changed together.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'layer:client',
      comment: `src/client may import only ${CLIENT_MAY_IMPORT.join(', ')}: it is packed and used without the server.`,
      severity: 'error',
      from: { path: pathOf('client') },
      to: { path: '^src/', pathNot: CLIENT_MAY_IMPORT.map(pathOf) },
    },
    {
      name: 'unlayered',
      comment: 'Every module of src/ belongs to a layer: add its folder to a row of LAYERS in .dependency-cruiser.mjs.',
      severity: 'error',
      from: { path: '^src/', pathNot: [...LAYERS.flat(), 'client'].map(pathOf) },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: an `import type` is how a circle hides from the runtime.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
