// The case folding name lookup and QUERY_DIRECTORY share (src/vfs/case-fold.ts): one UTF-16 unit
// to one unit, Unicode's simple upper case, never the locale's, and a stable choice among names
// that differ only in case.
import t from 'tap'
import { downcaseName, equalsIgnoreCase, pickCaseMatch, upcaseName, upcaseTableOf } from '../../../src/vfs/case-fold.js'
import { utf8Names } from '../../../src/vfs/posix.js'

t.test('upcase table: ASCII, Latin-1, Greek, Cyrillic; longer upper cases stay', async t => {
  t.equal(upcaseName('t015-15.txt'), 'T015-15.TXT')
  t.equal(upcaseName('éàçñÿ'), 'ÉÀÇÑŸ', 'Latin-1 letters (ÿ → Ÿ leaves Latin-1)')
  t.equal(upcaseName('αβγ ς σ'), 'ΑΒΓ Σ Σ', 'final sigma and sigma both fold to Σ')
  t.equal(upcaseName('привет'), 'ПРИВЕТ')
  t.equal(upcaseName('straße'), 'STRAßE', "ß's upper case is two letters: kept, so lengths never change")
  t.equal(upcaseName('ŉ'), 'ŉ')
  // Locale-independent: Turkish dotless ı folds to I and i to I (no locale's İ).
  t.equal(upcaseName('iı'), 'II')
  // A supplementary character is two surrogates, each mapping to itself.
  t.equal(upcaseName('\u{1F600}a'), '\u{1F600}A')
  const table = upcaseTableOf()
  t.equal(table.length, 0x10000)
  for (let c = 0; c < 0x10000; c += 97) {
    const u = String.fromCharCode(c).toUpperCase()
    t.equal(table[c], u.length === 1 ? u.charCodeAt(0) : c, `unit 0x${c.toString(16)}`)
  }
  t.equal(downcaseName('ÀBC.TXT'), 'àbc.txt')
  t.equal(downcaseName('İ'), 'İ', 'İ lower-cases to two units: kept')
})

t.test('equalsIgnoreCase', async t => {
  t.ok(equalsIgnoreCase('T015-15.txt', 't015-15.TXT'))
  t.ok(equalsIgnoreCase('ÄRGER.doc', 'ärger.DOC'))
  t.ok(equalsIgnoreCase('', ''))
  t.notOk(equalsIgnoreCase('a.txt', 'a.txt '), 'lengths differ')
  t.notOk(equalsIgnoreCase('a.txt', 'b.txt'))
  t.notOk(equalsIgnoreCase('strasse', 'straße'), 'no multi-letter folding')
  // Precomposed and decomposed forms are different names to Windows too.
  t.notOk(equalsIgnoreCase('\u00e9', 'e\u0301'))
})

t.test('pickCaseMatch: exact wins, else the smallest in code-unit order, whatever the listing order', async t => {
  t.equal(pickCaseMatch(['x', 't015-15.txt', 'y'], 'T015-15.txt'), 't015-15.txt')
  t.equal(pickCaseMatch(['A.TXT', 'a.txt', 'A.txt'], 'a.txt'), 'a.txt', 'the exact spelling')
  const variants = ['a.Txt', 'A.txt', 'a.TXT']
  const want = 'A.TXT'
  const picks = new Set<string | undefined>()
  for (const order of [variants, [...variants].reverse(), [variants[1]!, variants[2]!, variants[0]!]]) picks.add(pickCaseMatch(order, want))
  t.same([...picks], ['A.txt'], 'same pick for every order: the smallest spelling')
  t.equal(pickCaseMatch(['.', '..', 'b'], '..'), undefined, "'.' and '..' never match")
  t.equal(pickCaseMatch([], 'a'), undefined)
  t.equal(pickCaseMatch(['ab', 'a'], 'A'), 'a')
})

t.test('utf8Names: a packed listing decoded, names that are not UTF-8 left out', async t => {
  const pack = (...names: Buffer[]): Buffer => Buffer.concat(names.flatMap((n) => [n, Buffer.from([0])]))
  t.same(utf8Names(pack(Buffer.from('.'), Buffer.from('..'), Buffer.from('Ünter ordner'), Buffer.from('😀.txt'))), ['.', '..', 'Ünter ordner', '😀.txt'])
  t.same(utf8Names(Buffer.alloc(0)), [])
  // 'bad\xc3(' is not UTF-8: it would decode to 'bad\uFFFD(' and match a client's U+FFFD by accident.
  const bad = Buffer.from([0x62, 0x61, 0x64, 0xc3, 0x28])
  // A real U+FFFD, encoded as UTF-8, is a name like any other.
  const realFffd = Buffer.from('x\uFFFDy', 'utf8')
  t.same(utf8Names(pack(Buffer.from('a.txt'), bad, realFffd, Buffer.from('b'))), ['a.txt', 'x\uFFFDy', 'b'])
})
