import t from 'tap'
import { NtStatusError } from '../../../src/wire/errors.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'
import {
  FileInformationClass as C, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_TEMPORARY, FILE_ATTRIBUTE_HIDDEN,
  FILE_DISPOSITION_DELETE, FILE_DISPOSITION_POSIX_SEMANTICS, FILE_NEED_EA
} from '../../../src/wire/fscc/constants.js'
import { CreateOptions } from '../../../src/wire/constants.js'
import { decodeSetFileInfo, decodeFileBasicInformation, decodeFileFullEaInformation, encodeFileFullEaInformation } from '../../../src/wire/fscc/set-info.js'

function status (fn: () => unknown): number | undefined {
  try { fn() } catch (e) { if (e instanceof NtStatusError) return e.status; throw e }
  return undefined
}

const i64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigInt64LE(v); return b }
const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b }

function basic (times: bigint[], attrs: number): Buffer {
  return Buffer.concat([...times.map(i64), u32(attrs), u32(0)])
}

function renameBody (replace: boolean, name: string, lenOverride?: number): Buffer {
  const n = Buffer.from(name, 'utf16le')
  const b = Buffer.alloc(20 + n.length)
  b[0] = replace ? 1 : 0
  b.writeUInt32LE(lenOverride ?? n.length, 16)
  n.copy(b, 20)
  return b
}

function ea (entries: Array<{ flags?: number, name: string, value: Buffer }>): Buffer {
  const parts: Buffer[] = []
  entries.forEach((e, i) => {
    const size = 8 + e.name.length + 1 + e.value.length
    const padded = i + 1 < entries.length ? (size + 3) & ~3 : size
    const b = Buffer.alloc(padded)
    b.writeUInt32LE(i + 1 < entries.length ? padded : 0, 0)
    b[4] = e.flags ?? 0
    b[5] = e.name.length
    b.writeUInt16LE(e.value.length, 6)
    b.write(e.name, 8, 'latin1')
    e.value.copy(b, 8 + e.name.length + 1)
    parts.push(b)
  })
  return Buffer.concat(parts)
}

// A valid body for each decodable class.
const valid: Array<[number, Buffer]> = [
  [C.FileBasicInformation, basic([1n, 0n, -1n, -2n], FILE_ATTRIBUTE_HIDDEN)],
  [C.FileRenameInformation, renameBody(true, '\\new\\name.txt')],
  [C.FileLinkInformation, renameBody(false, 'link')],
  [C.FileDispositionInformation, Buffer.from([1])],
  [C.FileDispositionInformationEx, u32(FILE_DISPOSITION_DELETE | FILE_DISPOSITION_POSIX_SEMANTICS)],
  [C.FilePositionInformation, i64(42n)],
  [C.FileModeInformation, u32(CreateOptions.WRITE_THROUGH | CreateOptions.SYNCHRONOUS_IO_NONALERT)],
  [C.FileEndOfFileInformation, i64(1n << 40n)],
  [C.FileAllocationInformation, i64(4096n)],
  [C.FileValidDataLengthInformation, i64(10n)],
  [C.FileFullEaInformation, ea([{ name: 'user.a', value: Buffer.from('xyz') }, { flags: FILE_NEED_EA, name: 'B', value: Buffer.alloc(0) }])],
  [C.FileShortNameInformation, Buffer.concat([u32(6), Buffer.from('A~1', 'utf16le')])]
]

t.test('valid bodies decode', async t => {
  const r = Object.fromEntries(valid.map(([cls, b]) => [cls, decodeSetFileInfo(cls, b).value]))
  t.same(r[C.FileBasicInformation], { creationTime: 1n, lastAccessTime: 0n, lastWriteTime: -1n, changeTime: -2n, fileAttributes: FILE_ATTRIBUTE_HIDDEN })
  t.same(r[C.FileRenameInformation], { replaceIfExists: true, rootDirectory: 0n, fileName: '\\new\\name.txt' })
  t.same(r[C.FileLinkInformation], { replaceIfExists: false, rootDirectory: 0n, fileName: 'link' })
  t.same(r[C.FileDispositionInformation], { deletePending: true })
  t.same(r[C.FileDispositionInformationEx], { flags: 3 })
  t.same(r[C.FilePositionInformation], { currentByteOffset: 42n })
  t.same(r[C.FileModeInformation], { mode: CreateOptions.WRITE_THROUGH | CreateOptions.SYNCHRONOUS_IO_NONALERT })
  t.same(r[C.FileEndOfFileInformation], { endOfFile: 1n << 40n })
  t.same(r[C.FileAllocationInformation], { allocationSize: 4096n })
  t.same(r[C.FileValidDataLengthInformation], { validDataLength: 10n })
  const eas = r[C.FileFullEaInformation] as Array<{ flags: number, name: string, value: Buffer }>
  t.equal(eas.length, 2)
  t.equal(eas[0]!.name, 'user.a'); t.equal(eas[0]!.value.toString(), 'xyz'); t.equal(eas[1]!.flags, FILE_NEED_EA)
  t.same(r[C.FileShortNameInformation], { fileName: 'A~1' })
  t.same(decodeSetFileInfo(C.FileDispositionInformation, Buffer.from([0])).value, { deletePending: false })
})

t.test('every truncation of every valid body throws only NtStatusError', async t => {
  for (const [cls, body] of valid) {
    for (let n = 0; n < body.length; n++) {
      try {
        decodeSetFileInfo(cls, body.subarray(0, n))
      } catch (e) {
        if (!(e instanceof NtStatusError)) t.fail(`class ${cls} len ${n}: ${String(e)}`)
      }
    }
    // Extra trailing bytes are fine.
    t.doesNotThrow(() => decodeSetFileInfo(cls, Buffer.concat([body, Buffer.alloc(8)])), `class ${cls} with slack`)
  }
  t.equal(status(() => decodeSetFileInfo(C.FileBasicInformation, Buffer.alloc(39))), NtStatus.INFO_LENGTH_MISMATCH)
  t.equal(status(() => decodeSetFileInfo(C.FileRenameInformation, Buffer.alloc(19))), NtStatus.INFO_LENGTH_MISMATCH)
  t.equal(status(() => decodeSetFileInfo(C.FileDispositionInformation, Buffer.alloc(0))), NtStatus.INFO_LENGTH_MISMATCH)
  t.equal(status(() => decodeSetFileInfo(C.FileEndOfFileInformation, Buffer.alloc(7))), NtStatus.INFO_LENGTH_MISMATCH)
  t.equal(status(() => decodeSetFileInfo(C.FileFullEaInformation, Buffer.alloc(7))), NtStatus.INFO_LENGTH_MISMATCH)
})

t.test('random bytes throw only NtStatusError', async t => {
  let seed = 1
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed & 0xff }
  for (const [cls] of valid) {
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(Array.from({ length: rnd() % 64 }, rnd))
      try { decodeSetFileInfo(cls, b) } catch (e) { if (!(e instanceof NtStatusError)) t.fail(String(e)) }
    }
  }
  t.pass()
})

t.test('field validation', async t => {
  t.equal(status(() => decodeFileBasicInformation(basic([-3n, 0n, 0n, 0n], 0))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeFileBasicInformation(basic([0n, 0n, 0n, 0n], FILE_ATTRIBUTE_DIRECTORY), { isDirectory: false })), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeFileBasicInformation(basic([0n, 0n, 0n, 0n], FILE_ATTRIBUTE_TEMPORARY), { isDirectory: true })), NtStatus.INVALID_PARAMETER)
  t.doesNotThrow(() => decodeFileBasicInformation(basic([0n, 0n, 0n, 0n], FILE_ATTRIBUTE_DIRECTORY), { isDirectory: true }))
  t.equal(status(() => decodeSetFileInfo(C.FileRenameInformation, renameBody(false, 'abc', 100))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FileRenameInformation, renameBody(false, '', 0))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FileRenameInformation, renameBody(false, 'abc', 5))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FileEndOfFileInformation, i64(-1n))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FileAllocationInformation, i64(-5n))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FilePositionInformation, i64(-5n))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FileValidDataLengthInformation, i64(-5n))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FileModeInformation, u32(CreateOptions.DELETE_ON_CLOSE))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FileModeInformation, u32(CreateOptions.SYNCHRONOUS_IO_ALERT | CreateOptions.SYNCHRONOUS_IO_NONALERT))), NtStatus.INVALID_PARAMETER)
  t.equal(status(() => decodeSetFileInfo(C.FileDispositionInformationEx, u32(0x100))), NtStatus.INVALID_PARAMETER)
})

t.test('EA list validation', async t => {
  const good = ea([{ name: 'a', value: Buffer.from('1') }, { name: 'b', value: Buffer.from('2') }])
  t.equal(decodeFileFullEaInformation(good).length, 2)
  const noNul = Buffer.from(good); noNul[9] = 0x41
  t.equal(status(() => decodeFileFullEaInformation(noNul)), NtStatus.EA_LIST_INCONSISTENT)
  const misaligned = Buffer.from(good); misaligned.writeUInt32LE(13, 0)
  t.equal(status(() => decodeFileFullEaInformation(misaligned)), NtStatus.EA_LIST_INCONSISTENT)
  const backwards = Buffer.from(good); backwards.writeUInt32LE(4, 0)
  t.equal(status(() => decodeFileFullEaInformation(backwards)), NtStatus.EA_LIST_INCONSISTENT)
  const past = Buffer.from(good); past.writeUInt32LE(400, 0)
  t.equal(status(() => decodeFileFullEaInformation(past)), NtStatus.EA_LIST_INCONSISTENT)
  const longValue = ea([{ name: 'a', value: Buffer.from('1') }]); longValue.writeUInt16LE(50, 6)
  t.equal(status(() => decodeFileFullEaInformation(longValue)), NtStatus.EA_LIST_INCONSISTENT)
  t.equal(status(() => decodeFileFullEaInformation(ea([{ name: 'a*b', value: Buffer.alloc(0) }]))), NtStatus.INVALID_EA_NAME)
  t.equal(status(() => decodeFileFullEaInformation(ea([{ name: '', value: Buffer.alloc(1) }]))), NtStatus.INVALID_EA_NAME)
  t.equal(status(() => decodeFileFullEaInformation(ea([{ flags: 1, name: 'a', value: Buffer.alloc(0) }]))), NtStatus.INVALID_PARAMETER)
})

t.test('dispatcher: unknown and unsupported classes', async t => {
  t.equal(status(() => decodeSetFileInfo(250, Buffer.alloc(64))), NtStatus.INVALID_INFO_CLASS)
  t.equal(status(() => decodeSetFileInfo(C.FilePipeInformation, Buffer.alloc(64))), NtStatus.NOT_SUPPORTED)
  t.equal(status(() => decodeSetFileInfo(C.FileStandardInformation, Buffer.alloc(64))), NtStatus.NOT_SUPPORTED)
})

t.test('EA list encode/decode round trip', async t => {
  const entries = [
    { flags: 0, name: 'user.one', value: Buffer.from('v1') },
    { flags: FILE_NEED_EA, name: 'X', value: Buffer.alloc(0) },
    { flags: 0, name: 'third', value: Buffer.from('abcdefg') }
  ]
  const b = encodeFileFullEaInformation(entries)
  t.same(b, ea(entries), 'same bytes as the fixture builder')
  t.equal(b.readUInt32LE(0), 20, '8 + 8 + 1 + 2 = 19 → 20')
  const back = decodeFileFullEaInformation(b)
  t.same(back.map(e => [e.flags, e.name, e.value.toString('hex')]), entries.map(e => [e.flags, e.name, e.value.toString('hex')]))
  t.equal(status(() => encodeFileFullEaInformation([{ flags: 0, name: '', value: Buffer.alloc(0) }])), NtStatus.INVALID_PARAMETER)
})
