// The Node flags a test's child process needs to run the TypeScript sources the way the test
// itself runs them: @tapjs/typescript's loader under `npm test`; Node's own type stripping with
// test/helpers/strip-types.mjs under `npm run test:fast`. The rest of tap's flags (its process-info
// and coverage hooks) stay with the test process.

export function tsChildArgs (): string[] {
  return process.execArgv.filter(a =>
    (a.startsWith('--import') && (a.includes('typescript') || a.includes('strip-types'))) ||
    a.startsWith('--experimental-transform-types') || a.startsWith('--experimental-strip-types') ||
    a.startsWith('--disable-warning'))
}
