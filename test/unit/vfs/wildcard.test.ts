import t from 'tap'
import { compileWildcard, hasWildcards, upcaseName } from '../../../src/vfs/wildcard.js'

const cases: Array<[string, string, boolean]> = [
  // fast paths
  ['*', 'anything', true], ['*.*', 'noext', true], ['*.*', 'a.b', true], ['', 'x', true],
  // literal, case-insensitive
  ['abc', 'ABC', true], ['abc', 'abcd', false], ['Readme.TXT', 'readme.txt', true],
  // * and ?
  ['*.txt', 'a.txt', true], ['*.txt', 'A.TXT', true], ['*.txt', '.txt', true], ['*.txt', 'a.txt.bak', false],
  ['*.txt', 'atxt', false], ['a?c', 'abc', true], ['a?c', 'a.c', true], ['a?c', 'ac', false], ['a?c', 'abbc', false],
  ['??', 'a', false], ['a*', 'A', true], ['*a*b*', 'xaxxbx', true], ['*a*b*', 'xbxxax', false],
  ['a*b?d', 'aXXbcd', true], ['a*b?d', 'abd', false],
  // < DOS_STAR: up to (not including) the final dot
  ['<.txt', 'a.txt', true], ['<.txt', 'a.b.txt', true], ['<.txt', '.txt', true], ['<.txt', 'a.txt.bak', false],
  ['<', 'abc', true], ['<', 'a.b', false], ['<.<', 'a.b.c', true],
  // > DOS_QM: one non-dot char, or nothing at a dot / at the end
  ['a>>', 'a', true], ['a>>', 'ab', true], ['a>>', 'abc', true], ['a>>', 'abcd', false],
  ['a>>.txt', 'a.txt', true], ['a>>.txt', 'ab.txt', true], ['a>>.txt', 'abc.txt', true], ['a>>.txt', 'abcd.txt', false],
  ['>', 'a', true], ['>', '.', false],
  // " DOS_DOT: a dot, or nothing at the end
  ['foo"', 'foo', true], ['foo"', 'foo.', true], ['foo"', 'foox', false], ['foo"*', 'foo.bar', true],
  ['<"*', 'noext', true],
  // Unicode upper-casing, one unit to one unit
  ['école', 'ÉCOLE', true], ['σ*', 'Σίσυφος', true], ['*ß', 'STRASSE', false], ['ä?', 'Äb', true]
]

t.test('MS-FSA 2.1.4.4 matching', async t => {
  for (const [pattern, name, want] of cases) {
    t.equal(compileWildcard(pattern)(name), want, `${JSON.stringify(pattern)} ~ ${JSON.stringify(name)}`)
  }
})

t.test('case-sensitive option', async t => {
  t.notOk(compileWildcard('abc', { caseSensitive: true })('ABC'))
  t.ok(compileWildcard('a*', { caseSensitive: true })('abc'))
  t.notOk(compileWildcard('*.TXT', { caseSensitive: true })('a.txt'))
  t.notOk(compileWildcard('a?C', { caseSensitive: true })('abc'))
})

t.test('no exponential blow-up', async t => {
  const m = compileWildcard('a*a*a*a*a*a*a*a*a*b')
  const start = process.hrtime.bigint()
  t.notOk(m('a'.repeat(5000)))
  t.ok(process.hrtime.bigint() - start < 2_000_000_000n)
})

t.test('helpers', async t => {
  t.ok(hasWildcards('a<b'))
  t.ok(hasWildcards('x"'))
  t.notOk(hasWildcards('plain.txt'))
  t.equal(upcaseName('abcß'), 'ABCß')
  t.equal(compileWildcard('x')(''), false)
})
