// ESLint: neostandard, the flat-config successor of `standard` (no semicolons, a space before a
// function's parentheses, two-space indents, single quotes), with its typescript-eslint support,
// plus the few type-aware rules below. tsc checks the types (npm run typecheck: tsconfig.json and
// tsconfig.test.json); import cycles among src/ are scripts/cycles.ts's (npm run cycles).
// npm run lint runs typecheck and this; npm test runs both too.
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'
import tseslint from 'typescript-eslint'

export default [
  ...neostandard({ ts: true, noJsx: true, env: ['node'], ignores: resolveIgnoresFromGitignore() }),
  {
    rules: {
      // Related properties share a line on purpose, as rows of a table (parameter tables, fields
      // of a record, fast-check records); one property per line would be a large rewrite that
      // reads worse.
      '@stylistic/object-property-newline': 'off',
      // `void p` says that a promise is left unawaited on purpose (or a value unused on purpose).
      'no-void': ['error', { allowAsStatement: true }],
    },
  },
  {
    // Type-aware, through tsconfig.test.json (whose files these are): the promise rules, the
    // mistakes that cost a server most (an unhandled rejection ends the process). The rest of
    // typescript-eslint's recommended-type-checked set stays off: it finds some 600 places, most
    // of them style rather than bugs (require-await on async test callbacks, unbound-method on
    // loan.release and t.* passed as callbacks, enum comparisons with wire numbers, assertions
    // tsc no longer needs); taking it on is a rewrite of its own.
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    plugins: { '@typescript-eslint': tseslint.plugin },
    languageOptions: { parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      // tap queues t.test() and friends itself: their promise needs no await.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: '@tapjs/test', name: ['test', 'skip', 'todo', 'only'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
]
