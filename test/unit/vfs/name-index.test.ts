// DirNameIndex (src/vfs/name-index.ts): a big directory's folded names, trusted only while the
// directory's stamp holds and for a bounded time; our own changes keep it current.
import t from 'tap'
import { DirNameIndex, type DirStamp } from '../../../src/vfs/name-index.js'

const stamp = (m: bigint, ino = 7n): DirStamp => ({ ino, mtimeNs: m, ctimeNs: m })
const many = (n: number): string[] => Array.from({ length: n }, (_, i) => `file${i}.txt`)

t.test('a filed listing answers hits and misses while the stamp holds', async (t) => {
  const x = new DirNameIndex({ minEntries: 4 })
  t.equal(x.lookup('d', stamp(1n), 'a'), undefined, 'nothing filed: no answer')
  x.fill('d', stamp(1n), ['.', '..', 'Alpha.TXT', ...many(10)])
  t.equal(x.lookup('d', stamp(1n), 'ALPHA.txt'), 'Alpha.TXT', 'another spelling finds the stored one')
  t.equal(x.lookup('d', stamp(1n), 'FILE3.TXT'), 'file3.txt')
  t.equal(x.lookup('d', stamp(1n), 'beta'), null, 'a name nobody spells: known missing')
  t.equal(x.lookup('d', stamp(1n), '..'), null, 'dot entries never match')
  t.equal(x.lookup('d', stamp(2n), 'alpha.txt'), undefined, 'another mtime: not trusted')
  t.equal(x.lookup('d', stamp(1n), 'alpha.txt'), undefined, 'and dropped')
  x.fill('d', stamp(1n), many(10))
  t.equal(x.lookup('d', stamp(1n, 8n), 'file1.txt'), undefined, 'another inode at that path: not trusted')
  x.fill('d', stamp(1n), many(10))
  t.equal(x.lookup('d', { ino: 7n, mtimeNs: 1n, ctimeNs: 5n }, 'file1.txt'), undefined, 'another ctime: not trusted')
  t.equal(x.listings, 3)
})

t.test('small directories are not indexed', async (t) => {
  const x = new DirNameIndex({ minEntries: 64 })
  x.fill('d', stamp(1n), many(63))
  t.equal(x.lookup('d', stamp(1n), 'file1.txt'), undefined)
  x.fill('d', stamp(1n), many(64))
  t.equal(x.lookup('d', stamp(1n), 'FILE1.txt'), 'file1.txt')
})

t.test('names differing only in case: the exact one, else the smallest (as pickCaseMatch)', async (t) => {
  const x = new DirNameIndex({ minEntries: 1 })
  x.fill('', stamp(1n), ['readme', 'README', 'ReadMe'])
  t.equal(x.lookup('', stamp(1n), 'ReadMe'), 'ReadMe')
  t.equal(x.lookup('', stamp(1n), 'readMe'), 'README', 'code-unit order: upper case first')
  const adopt = x.changed('', 'README', false)!
  adopt(stamp(2n))
  t.equal(x.lookup('', stamp(2n), 'READme'), 'ReadMe')
})

t.test('our own changes: applied at once, then the new stamp adopted', async (t) => {
  const x = new DirNameIndex({ minEntries: 4 })
  t.equal(x.changed('d', 'New.txt', true), undefined, 'no index: nothing to do (and no stamp to take)')
  x.fill('d', stamp(1n), many(10))
  const adopt = x.changed('d', 'New.txt', true)!
  t.equal(x.lookup('d', stamp(1n), 'new.TXT'), 'New.txt', 'the name is known before the stamp arrives')
  adopt(stamp(2n))
  t.equal(x.lookup('d', stamp(2n), 'NEW.txt'), 'New.txt', 'and the stamp after our change is trusted')
  x.changed('d', 'file1.txt', false)!(stamp(3n))
  t.equal(x.lookup('d', stamp(3n), 'FILE1.TXT'), null, 'a removed name is missing')
  x.changed('d', 'x', true)!(undefined)
  t.equal(x.lookup('d', stamp(3n), 'file2.txt'), undefined, 'no stamp after the change: the index is dropped')
})

t.test('a stamp for a replaced index is not adopted', async (t) => {
  const x = new DirNameIndex({ minEntries: 4 })
  x.fill('d', stamp(1n), many(10))
  const adopt = x.changed('d', 'late.txt', true)!
  x.fill('d', stamp(2n), many(10)) // listed meanwhile, without the new name
  adopt(stamp(3n))
  t.equal(x.lookup('d', stamp(3n), 'late.txt'), undefined, 'the listing\'s own stamp stays: the next lookup lists again')
})

t.test('an index expires: a change missed in the adoption window is bounded in time', async (t) => {
  let now = 0
  const x = new DirNameIndex({ minEntries: 4, maxAgeMs: 2000, now: () => now })
  x.fill('d', stamp(1n), many(10))
  now = 1999
  t.equal(x.lookup('d', stamp(1n), 'file1.txt'), 'file1.txt')
  now = 2001
  t.equal(x.lookup('d', stamp(1n), 'file1.txt'), undefined)
})

t.test('bounded: least recently used directories go first', async (t) => {
  const x = new DirNameIndex({ minEntries: 1, maxDirs: 2, maxNames: 25 })
  x.fill('a', stamp(1n), many(10))
  x.fill('b', stamp(1n), many(10))
  x.lookup('a', stamp(1n), 'file1.txt')
  x.fill('c', stamp(1n), many(10))
  t.equal(x.lookup('b', stamp(1n), 'file1.txt'), undefined, 'b was the least recently used')
  t.equal(x.lookup('a', stamp(1n), 'file1.txt'), 'file1.txt')
  x.fill('d', stamp(1n), many(20))
  t.equal(x.lookup('a', stamp(1n), 'file1.txt'), undefined, 'names in all are bounded too')
  t.equal(x.lookup('d', stamp(1n), 'file1.txt'), 'file1.txt')
  x.fill('e', stamp(1n), many(30))
  t.equal(x.lookup('e', stamp(1n), 'file1.txt'), undefined, 'a directory bigger than the bound is not indexed')
})

t.test('forget drops a directory and everything beneath it', async (t) => {
  const x = new DirNameIndex({ minEntries: 1 })
  for (const d of ['p', 'p/q', 'p/q/r', 'pq']) x.fill(d, stamp(1n), many(3))
  x.forget('p')
  t.equal(x.lookup('p/q/r', stamp(1n), 'file1.txt'), undefined)
  t.equal(x.lookup('p', stamp(1n), 'file1.txt'), undefined)
  t.equal(x.lookup('pq', stamp(1n), 'file1.txt'), 'file1.txt', 'a sibling sharing the prefix stays')
})
