/**
 * The layering rules, checked by `npm run lint:deps` (part of `npm test`):
 * workflows stay deterministic and small, schemas stay pure, model code never touches
 * storage, and nothing runs in a cycle.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-runtime-cycles',
      severity: 'error',
      comment: 'modules that import each other at run time load half-initialised',
      from: {},
      to: { circular: true },
    },
    {
      name: 'activities-not-workflows',
      severity: 'error',
      comment: 'activities run outside the workflow sandbox and must not depend on workflow code',
      from: { path: '^activities/' },
      to: { path: '^workflows/' },
    },
    {
      name: 'schemas-are-pure',
      severity: 'error',
      comment: 'contracts depend on nothing but libraries and other contracts',
      from: { path: '^schemas/' },
      to: { path: '^(ml|activities|serving|workflows|infra|cli|sources)/' },
    },
    {
      name: 'ml-without-storage',
      severity: 'error',
      comment: 'model code takes arrays and tensors; the host does the IO',
      from: { path: '^ml/' },
      to: { path: '^(activities|serving|infra|cli|sources)/' },
    },
    {
      name: 'workflows-only-workflow-safe',
      severity: 'error',
      comment: 'the workflow never imports a kind or an activity at run time (types are fine)',
      from: { path: '^workflows/' },
      to: { path: '^(activities|ml|serving|infra|cli|sources|workers)/' },
    },
    {
      name: 'workflow-bundle-without-arrow',
      severity: 'error',
      comment: 'the workflow bundle must not pull in apache-arrow (or tfjs): they are data-plane code',
      from: { path: '^workflows/' },
      to: { path: 'node_modules/(apache-arrow|@tensorflow)/', reachable: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Only what runs: type-only imports vanish at compile time and are no layering problem.
    tsPreCompilationDeps: false,
    exclude: { path: '^(test/integration/fixtures)/' },
  },
};
