// The resolve hook strip-types.mjs registers: `./x.js` → `./x.ts` when only the .ts exists.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export async function resolve (specifier, context, next) {
  if (specifier.endsWith('.js') && /^(\.{1,2}\/|file:)/.test(specifier) && context.parentURL?.startsWith('file:')) {
    const js = new URL(specifier, context.parentURL)
    if (!existsSync(fileURLToPath(js))) {
      const ts = new URL(js.href.slice(0, -3) + '.ts')
      if (existsSync(fileURLToPath(ts))) return next(ts.href, context)
    }
  }
  return next(specifier, context)
}
