// The layer rule of src/ (docs/design.md, "Shape"): each folder imports only from the folders
// below it, so the engine can be read, tested and trusted without the rest.
//
//   engine  ←  core  ←  json, toolkit, tree  ←  index.ts, cli
//   engine  ←  audit  ←  cli
//
// Checked by `npm run lint` (and so by `npm test`). dependency-cruiser rather than an ESLint
// plugin: it resolves TypeScript's `.js` specifiers through tsconfig on its own, checks
// import cycles with the same rules, and one readable file holds the whole architecture.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'engine-is-the-base',
      comment:
        'src/engine/ (fs seam, executors, platform rules, errors) imports nothing else of src/.',
      severity: 'error',
      from: { path: '^src/engine/' },
      to: { path: '^src/', pathNot: '^src/engine/' },
    },
    {
      name: 'core-sits-on-the-engine',
      comment: 'src/core/ (the single-file replace) imports only src/engine/.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/(engine|core)/' },
    },
    {
      name: 'features-sit-on-the-core',
      comment:
        'src/json/, src/toolkit/ and src/tree/ import the engine, the core and their own folder, never each other.',
      severity: 'error',
      from: { path: '^src/(json|toolkit|tree)/' },
      to: { path: '^src/', pathNot: ['^src/(engine|core)/', '^src/$1/'] },
    },
    {
      name: 'audit-sits-on-the-engine',
      comment: 'src/audit/ (the crash-state explorer) needs only the fs seam, never the writers.',
      severity: 'error',
      from: { path: '^src/audit/' },
      to: { path: '^src/', pathNot: '^src/(engine|audit)/' },
    },
    {
      name: 'the-cli-is-the-top',
      comment: 'Nothing in the library imports the command line.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'the-library-is-not-its-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'no-import-cycles',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.build.json' },
    tsPreCompilationDeps: true,
  },
};
