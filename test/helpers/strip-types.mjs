// For `npm test` and `npm run test:fast`: tests and sources run on Node's own TypeScript support
// (--experimental-transform-types: enums and parameter properties too) instead of ts-node, which
// transpiles the whole import graph again in every test process. Node resolves specifiers as
// written, and the sources import `./x.js` for `./x.ts` (NodeNext), so strip-types-hooks.mjs maps a
// relative `.js` specifier with no such file to the `.ts` beside it.
// Used as: node --experimental-transform-types --import=./test/helpers/strip-types.mjs
import { register } from 'node:module'

register(new URL('./strip-types-hooks.mjs', import.meta.url))
