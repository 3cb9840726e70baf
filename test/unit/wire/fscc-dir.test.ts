import t from 'tap'
import { NtStatusError } from '../../../src/wire/errors.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'
import { FileInformationClass as C, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_REPARSE_POINT } from '../../../src/wire/fscc/constants.js'
import type { FileInfo } from '../../../src/wire/fscc/types.js'
import { DirEntryWriter, carriesShortName, dirEntryFixedSize, isDirInfoClass } from '../../../src/wire/fscc/dir-info.js'
import { sidFromString } from '../../../src/wire/dtyp/sid.js'

const info: FileInfo = {
  creationTime: 1n, lastAccessTime: 2n, lastWriteTime: 3n, changeTime: 4n,
  endOfFile: 100n, allocationSize: 4096n, fileAttributes: FILE_ATTRIBUTE_ARCHIVE,
  indexNumber: 0x42n, numberOfLinks: 1, isDirectory: false, eaSize: 9
}

function status (fn: () => unknown): number | undefined {
  try { fn() } catch (e) { if (e instanceof NtStatusError) return e.status; throw e }
  return undefined
}

/** Walk a NextEntryOffset chain; return entry offsets. */
function walk (b: Buffer): number[] {
  const offs: number[] = []
  let off = 0
  for (;;) {
    offs.push(off)
    const next = b.readUInt32LE(off)
    if (next === 0) return offs
    off += next
  }
}

const fixed: Array<[number, number]> = [
  [C.FileDirectoryInformation, 64], [C.FileFullDirectoryInformation, 68], [C.FileBothDirectoryInformation, 94],
  [C.FileNamesInformation, 12], [C.FileIdBothDirectoryInformation, 104], [C.FileIdFullDirectoryInformation, 80],
  [C.FileIdExtdDirectoryInformation, 88], [C.FileId64ExtdDirectoryInformation, 80],
  [C.FileId64ExtdBothDirectoryInformation, 106], [C.FileIdAllExtdDirectoryInformation, 96],
  [C.FileIdAllExtdBothDirectoryInformation, 122]
]

t.test('fixed sizes (offset of FileName) per MS-FSCC', async t => {
  for (const [cls, size] of fixed) {
    t.equal(dirEntryFixedSize(cls), size, `class ${cls}`)
    t.ok(isDirInfoClass(cls))
  }
  t.notOk(isDirInfoClass(C.FileBasicInformation))
  t.equal(status(() => new DirEntryWriter(C.FileBasicInformation, 4096)), NtStatus.INVALID_INFO_CLASS)
  t.equal(status(() => new DirEntryWriter(99, 4096)), NtStatus.INVALID_INFO_CLASS)
  t.equal(status(() => new DirEntryWriter(C.FileIdBothDirectoryInformation, 103)), NtStatus.INFO_LENGTH_MISMATCH)
})

t.test('carriesShortName: exactly the classes whose entry has a ShortName field', async t => {
  // Every class the writer supports, found by asking it rather than listing them again.
  const supported = Array.from({ length: 256 }, (_, i) => i).filter(isDirInfoClass)
  t.equal(supported.length, fixed.length + 1, 'the MS-FSCC classes and SMB2_FIND_POSIX_INFORMATION')
  const short = 'Q~1.ZZZ'
  const shortBytes = Buffer.from(short, 'utf16le')
  const posix = { mode: 0o100644, owner: sidFromString('S-1-22-1-1000'), group: sidFromString('S-1-22-2-1000') }
  const carrying: number[] = []
  for (const cls of supported) {
    const w = new DirEntryWriter(cls, 4096)
    t.ok(w.tryAdd({ name: 'a long file name.txt', info, shortName: short, posix }))
    // A ShortName field: ShortNameLength, a reserved byte, then the name, all in the fixed part.
    const fixedPart = w.finish().subarray(0, w.fixedSize)
    const at = fixedPart.indexOf(shortBytes)
    const hasField = at >= 2 && fixedPart[at - 2] === shortBytes.length
    t.equal(carriesShortName(cls), hasField, `class ${cls}`)
    if (hasField) carrying.push(cls)
  }
  t.same(carrying.sort((a, b) => a - b), [
    C.FileBothDirectoryInformation, C.FileIdBothDirectoryInformation,
    C.FileId64ExtdBothDirectoryInformation, C.FileIdAllExtdBothDirectoryInformation
  ].sort((a, b) => a - b), 'the four Both classes')
  t.notOk(carriesShortName(C.FileBasicInformation), 'not a directory class')
  t.notOk(carriesShortName(99))
})

t.test('FileIdBothDirectoryInformation entry bytes', async t => {
  const w = new DirEntryWriter(C.FileIdBothDirectoryInformation, 4096)
  t.ok(w.tryAdd({ name: 'hello.txt', info, shortName: 'HELLO.TXT', fileIndex: 7 }))
  const b = w.finish()
  t.equal(b.length, 104 + 18)
  t.equal(b.readUInt32LE(0), 0, 'single entry ends the chain')
  t.equal(b.readUInt32LE(4), 7)
  t.equal(b.readBigUInt64LE(8), 1n)
  t.equal(b.readBigUInt64LE(32), 4n)
  t.equal(b.readBigUInt64LE(40), 100n, 'EndOfFile before AllocationSize')
  t.equal(b.readBigUInt64LE(48), 4096n)
  t.equal(b.readUInt32LE(56), FILE_ATTRIBUTE_ARCHIVE)
  t.equal(b.readUInt32LE(60), 18)
  t.equal(b.readUInt32LE(64), 9, 'EaSize')
  t.equal(b[68], 18, 'ShortNameLength')
  t.equal(b.toString('utf16le', 70, 70 + 18), 'HELLO.TXT')
  t.equal(b.readUInt16LE(94), 0)
  t.equal(b.readBigUInt64LE(96), 0x42n)
  t.equal(b.toString('utf16le', 104), 'hello.txt')
})

t.test('other layouts: key fields', async t => {
  const rp: FileInfo = { ...info, fileAttributes: FILE_ATTRIBUTE_REPARSE_POINT }
  const one = (cls: number, e = { name: 'ab', info, shortName: 'AB' } as Parameters<DirEntryWriter['tryAdd']>[0]): Buffer => {
    const w = new DirEntryWriter(cls, 4096); t.ok(w.tryAdd(e)); return w.finish()
  }
  let b = one(C.FileNamesInformation)
  t.equal(b.toString('hex'), '00000000' + '00000000' + '04000000' + '61006200')
  b = one(C.FileDirectoryInformation)
  t.equal(b.length, 68); t.equal(b.toString('utf16le', 64), 'ab')
  b = one(C.FileFullDirectoryInformation, { name: 'ab', info: rp, reparseTag: 0xA000000C })
  t.equal(b.readUInt32LE(64), 0xA000000C, 'EaSize carries the reparse tag')
  b = one(C.FileBothDirectoryInformation)
  t.equal(b[68], 4); t.equal(b.toString('utf16le', 70, 74), 'AB'); t.equal(b.toString('utf16le', 94), 'ab')
  b = one(C.FileIdFullDirectoryInformation)
  t.equal(b.readBigUInt64LE(72), 0x42n); t.equal(b.toString('utf16le', 80), 'ab')
  b = one(C.FileIdExtdDirectoryInformation, { name: 'ab', info: rp, reparseTag: 5 })
  t.equal(b.readUInt32LE(68), 5); t.equal(b.readBigUInt64LE(72), 0x42n); t.equal(b.readBigUInt64LE(80), 0n)
  t.equal(b.toString('utf16le', 88), 'ab')
  b = one(C.FileId64ExtdDirectoryInformation)
  t.equal(b.readBigUInt64LE(72), 0x42n); t.equal(b.toString('utf16le', 80), 'ab')
  b = one(C.FileId64ExtdBothDirectoryInformation)
  t.equal(b[80], 4); t.equal(b.toString('utf16le', 82, 86), 'AB'); t.equal(b.toString('utf16le', 106), 'ab')
  b = one(C.FileIdAllExtdDirectoryInformation, { name: 'ab', info, fileId128: Buffer.alloc(16, 1) })
  t.equal(b.readBigUInt64LE(72), 0x42n); t.same(b.subarray(80, 96), Buffer.alloc(16, 1)); t.equal(b.toString('utf16le', 96), 'ab')
  b = one(C.FileIdAllExtdBothDirectoryInformation)
  t.equal(b[96], 4); t.equal(b.toString('utf16le', 98, 102), 'AB'); t.equal(b.toString('utf16le', 122), 'ab')
  b = one(C.FileDirectoryInformation, { name: 'd', info: { ...info, fileAttributes: 0, isDirectory: true } })
  t.equal(b.readUInt32LE(56), FILE_ATTRIBUTE_DIRECTORY)
})

t.test('chain: 8-byte alignment, NextEntryOffset, last 0, no trailing pad', async t => {
  for (const [cls] of fixed) {
    const w = new DirEntryWriter(cls, 65536)
    const names = ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff', 'g'.repeat(40)]
    for (const name of names) t.ok(w.tryAdd({ name, info }))
    t.equal(w.count, names.length)
    const b = w.finish()
    const offs = walk(b)
    t.equal(offs.length, names.length, `class ${cls} chain length`)
    for (const [i, off] of offs.entries()) {
      t.equal(off % 8, 0)
      const lenOff = cls === C.FileNamesInformation ? 8 : 60
      const nlen = b.readUInt32LE(off + lenOff)
      t.equal(b.toString('utf16le', off + dirEntryFixedSize(cls), off + dirEntryFixedSize(cls) + nlen), names[i])
    }
    const last = offs[offs.length - 1]!
    t.equal(b.length, last + dirEntryFixedSize(cls) + names[names.length - 1]!.length * 2)
  }
})

t.test('truncation at the buffer limit', async t => {
  // FileNamesInformation: entry = 12 + 2*len. 'aa' → 16, next starts at 16.
  const w = new DirEntryWriter(C.FileNamesInformation, 32)
  t.ok(w.tryAdd({ name: 'aa', info })) // 0..16
  t.notOk(w.tryAdd({ name: 'bbbbbbbbb', info }), '16 + 30 > 32') // would need 16..46
  t.ok(w.tryAdd({ name: 'cc', info })) // 16..32 exactly
  t.notOk(w.tryAdd({ name: '', info }), 'no room left at 32')
  t.equal(w.count, 2)
  const b = w.finish()
  t.equal(b.length, 32)
  t.same(walk(b), [0, 16])

  const first = new DirEntryWriter(C.FileNamesInformation, 17)
  t.notOk(first.tryAdd({ name: 'abcdef', info }))
  t.equal(first.count, 0)
  first.addTruncated({ name: 'abcdef', info })
  const tb = first.finish()
  t.equal(tb.length, 16, 'fixed + two whole code units')
  t.equal(tb.readUInt32LE(8), 12, 'FileNameLength keeps the full length')
  t.equal(tb.toString('utf16le', 12), 'ab')
  t.throws(() => first.addTruncated({ name: 'x', info }))
})

t.test('large output grows past the initial buffer', async t => {
  const w = new DirEntryWriter(C.FileIdBothDirectoryInformation, 1 << 20)
  let n = 0
  while (w.tryAdd({ name: `file-${n}.dat`, info })) n++
  t.ok(n > 1000)
  const b = w.finish()
  t.ok(b.length <= 1 << 20)
  t.equal(walk(b).length, n)
})
