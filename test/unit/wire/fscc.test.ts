import t from 'tap'
import { NtStatusError } from '../../../src/wire/errors.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'
import {
  FileInformationClass as C, FsInformationClass as F, FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY,
  FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_REPARSE_POINT, FILE_CASE_PRESERVED_NAMES, FILE_CASE_SENSITIVE_SEARCH,
  FILE_UNICODE_ON_DISK, FILE_PERSISTENT_ACLS, FILE_DEVICE_DISK, FILE_DEVICE_IS_MOUNTED, IO_REPARSE_TAG_SYMLINK,
  FILE_SUPPORTS_OBJECT_IDS
} from '../../../src/wire/fscc/constants.js'
import { FILE_ALL_ACCESS, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ, FILE_GENERIC_WRITE } from '../../../src/wire/constants.js'
import type { FileInfo, FsInfo } from '../../../src/wire/fscc/types.js'
import { encodeFileInfo, queryFileInfo, fileInfoFixedSize } from '../../../src/wire/fscc/file-info.js'
import { encodeFsInfo, queryFsInfo } from '../../../src/wire/fscc/fs-info.js'

const info: FileInfo = {
  creationTime: 0x0102030405060708n,
  lastAccessTime: 0x1112131415161718n,
  lastWriteTime: 0x2122232425262728n,
  changeTime: 0x3132333435363738n,
  endOfFile: 1000n,
  allocationSize: 4096n,
  fileAttributes: FILE_ATTRIBUTE_ARCHIVE,
  indexNumber: 0xABCDEFn,
  numberOfLinks: 2,
  isDirectory: false,
  eaSize: 7
}
const dirInfo: FileInfo = { ...info, fileAttributes: 0, isDirectory: true, endOfFile: 0n, allocationSize: 0n }

const u32 = (b: Buffer, o: number): number => b.readUInt32LE(o)
const u64 = (b: Buffer, o: number): bigint => b.readBigUInt64LE(o)

function status (fn: () => unknown): number | undefined {
  try { fn() } catch (e) { if (e instanceof NtStatusError) return e.status; throw e }
  return undefined
}

t.test('constants', async t => {
  t.equal(FILE_GENERIC_READ, 0x00120089)
  t.equal(FILE_GENERIC_WRITE, 0x00120116)
  t.equal(FILE_GENERIC_EXECUTE, 0x001200A0)
  t.equal(FILE_ALL_ACCESS, 0x001F01FF)
  t.equal(C.FileIdBothDirectoryInformation, 37)
  t.equal(C.FileIdInformation, 59)
  t.equal(C.FileNormalizedNameInformation, 48)
  t.equal(F.FileFsSectorSizeInformation, 11)
})

t.test('FileBasicInformation: 40 bytes, times then attributes', async t => {
  const b = encodeFileInfo(C.FileBasicInformation, { info })
  t.equal(b.length, 40)
  t.equal(u64(b, 0), info.creationTime)
  t.equal(u64(b, 8), info.lastAccessTime)
  t.equal(u64(b, 16), info.lastWriteTime)
  t.equal(u64(b, 24), info.changeTime)
  t.equal(u32(b, 32), FILE_ATTRIBUTE_ARCHIVE)
  t.equal(u32(b, 36), 0)
  const d = encodeFileInfo(C.FileBasicInformation, { info: dirInfo })
  t.equal(u32(d, 32), FILE_ATTRIBUTE_DIRECTORY, 'directory bit, no NORMAL')
  const n = encodeFileInfo(C.FileBasicInformation, { info: { ...info, fileAttributes: 0 } })
  t.equal(u32(n, 32), FILE_ATTRIBUTE_NORMAL, 'NORMAL when nothing else')
})

t.test('FileStandardInformation', async t => {
  const b = encodeFileInfo(C.FileStandardInformation, { info: { ...info, deletePending: true } })
  t.equal(b.toString('hex'), '0010000000000000' + 'e803000000000000' + '02000000' + '01' + '00' + '0000')
  t.equal(b.length, 24)
  t.equal(u64(b, 0), 4096n)
  t.equal(u64(b, 8), 1000n)
  t.equal(u32(b, 16), 2)
  t.equal(b[20], 1)
  t.equal(b[21], 0)
  t.equal(encodeFileInfo(C.FileStandardInformation, { info: dirInfo })[21], 1)
})

t.test('small fixed classes: exact bytes', async t => {
  t.equal(encodeFileInfo(C.FileInternalInformation, { info }).toString('hex'), 'efcdab0000000000')
  t.equal(encodeFileInfo(C.FileEaInformation, { info }).toString('hex'), '07000000')
  t.equal(encodeFileInfo(C.FileAccessInformation, { info, accessFlags: 0x001F01FF }).toString('hex'), 'ff011f00')
  t.equal(encodeFileInfo(C.FilePositionInformation, { info, position: 0x1234n }).toString('hex'), '3412000000000000')
  t.equal(encodeFileInfo(C.FilePositionInformation, { info }).toString('hex'), '0000000000000000')
  t.equal(encodeFileInfo(C.FileModeInformation, { info, mode: 0x22 }).toString('hex'), '22000000')
  t.equal(encodeFileInfo(C.FileAlignmentInformation, { info }).toString('hex'), '00000000')
  t.equal(encodeFileInfo(C.FileCompressionInformation, { info }).toString('hex'), 'e803000000000000' + '0000' + '000000' + '000000')
  const tag = encodeFileInfo(C.FileAttributeTagInformation, { info })
  t.equal(tag.toString('hex'), '2000000000000000')
  const rp = encodeFileInfo(C.FileAttributeTagInformation, {
    info: { ...info, fileAttributes: FILE_ATTRIBUTE_REPARSE_POINT }, reparseTag: IO_REPARSE_TAG_SYMLINK
  })
  t.equal(u32(rp, 4), IO_REPARSE_TAG_SYMLINK)
  const id = encodeFileInfo(C.FileIdInformation, { info, volumeSerialNumber: 0x11223344n })
  t.equal(id.toString('hex'), '4433221100000000' + 'efcdab0000000000' + '0000000000000000')
})

t.test('FileNetworkOpenInformation: 56 bytes, AllocationSize before EndOfFile', async t => {
  const b = encodeFileInfo(C.FileNetworkOpenInformation, { info })
  t.equal(b.length, 56)
  t.equal(u64(b, 0), info.creationTime)
  t.equal(u64(b, 24), info.changeTime)
  t.equal(u64(b, 32), 4096n)
  t.equal(u64(b, 40), 1000n)
  t.equal(u32(b, 48), FILE_ATTRIBUTE_ARCHIVE)
  t.equal(u32(b, 52), 0)
})

t.test('FileNameInformation and truncation', async t => {
  const b = encodeFileInfo(C.FileNameInformation, { info, name: '\\dir\\a.txt' })
  t.equal(b.toString('hex'), '14000000' + Buffer.from('\\dir\\a.txt', 'utf16le').toString('hex'))
  t.equal(fileInfoFixedSize(C.FileNameInformation), 4)
  const r = queryFileInfo(C.FileNameInformation, { info, name: '\\dir\\a.txt' }, 9)
  t.equal(r.status, NtStatus.BUFFER_OVERFLOW)
  t.equal(r.data.length, 8, 'whole code units only')
  t.equal(u32(r.data, 0), 20, 'full length kept')
  const ok = queryFileInfo(C.FileNameInformation, { info, name: '\\dir\\a.txt' }, 24)
  t.equal(ok.status, NtStatus.SUCCESS)
  t.equal(ok.data.length, 24)
  t.equal(status(() => queryFileInfo(C.FileNameInformation, { info, name: 'x' }, 3)), NtStatus.INFO_LENGTH_MISMATCH)
  // Below sizeof(FILE_NAME_INFORMATION) (8: the length and one character, padded) is a mismatch;
  // from there an overflow (smbtorture smb2.getinfo.qfile_buffercheck, as Windows answers).
  t.equal(status(() => queryFileInfo(C.FileNormalizedNameInformation, { info, name: '\\xyz' }, 7)), NtStatus.INFO_LENGTH_MISMATCH)
  const least = queryFileInfo(C.FileNormalizedNameInformation, { info, name: '\\xyz' }, 8)
  t.equal(least.status, NtStatus.BUFFER_OVERFLOW, 'the structure\'s size is an overflow, not a mismatch')
  t.equal(least.data.length, 8)
  t.equal(status(() => encodeFileInfo(C.FileNameInformation, { info })), NtStatus.INVALID_PARAMETER)
})

t.test('FileAlternateNameInformation', async t => {
  t.equal(status(() => encodeFileInfo(C.FileAlternateNameInformation, { info })), NtStatus.OBJECT_NAME_NOT_FOUND)
  const b = encodeFileInfo(C.FileAlternateNameInformation, { info, shortName: 'LONGNA~1.TXT' })
  t.equal(u32(b, 0), 24)
  t.equal(b.toString('utf16le', 4), 'LONGNA~1.TXT')
})

t.test('FileAllInformation: composite layout', async t => {
  const name = '\\f.txt'
  const b = encodeFileInfo(C.FileAllInformation, { info, name, accessFlags: 0x120089, position: 5n, mode: 0x20, alignmentRequirement: 1 })
  t.equal(b.length, 100 + name.length * 2)
  t.same(b.subarray(0, 40), encodeFileInfo(C.FileBasicInformation, { info }))
  t.same(b.subarray(40, 64), encodeFileInfo(C.FileStandardInformation, { info }))
  t.equal(u64(b, 64), info.indexNumber)
  t.equal(u32(b, 72), 7)
  t.equal(u32(b, 76), 0x120089)
  t.equal(u64(b, 80), 5n)
  t.equal(u32(b, 88), 0x20)
  t.equal(u32(b, 92), 1)
  t.equal(u32(b, 96), name.length * 2)
  t.equal(b.toString('utf16le', 100), name)
  t.equal(status(() => queryFileInfo(C.FileAllInformation, { info, name }, 103)), NtStatus.INFO_LENGTH_MISMATCH, 'below sizeof(FILE_ALL_INFORMATION), 104')
  const r = queryFileInfo(C.FileAllInformation, { info, name }, 105)
  t.equal(r.status, NtStatus.BUFFER_OVERFLOW)
  t.equal(r.data.length, 104)
})

t.test('FileStreamInformation', async t => {
  const b = encodeFileInfo(C.FileStreamInformation, { info })
  t.equal(b.length, 24 + 14)
  t.equal(u32(b, 0), 0)
  t.equal(u32(b, 4), 14)
  t.equal(u64(b, 8), 1000n)
  t.equal(u64(b, 16), 4096n)
  t.equal(b.toString('utf16le', 24), '::$DATA')
  t.equal(encodeFileInfo(C.FileStreamInformation, { info: dirInfo }).length, 0, 'directories have no streams')
  const streams = [
    { name: '::$DATA', size: 1n, allocationSize: 8n },
    { name: ':ab:$DATA', size: 2n, allocationSize: 8n }
  ]
  const two = encodeFileInfo(C.FileStreamInformation, { info, streams })
  t.equal(u32(two, 0), 40, 'next entry 8-aligned (24+14 → 40)')
  t.equal(two.length, 40 + 24 + 18)
  t.equal(u32(two, 40), 0)
  t.equal(two.toString('utf16le', 64), ':ab:$DATA')
  const r = queryFileInfo(C.FileStreamInformation, { info, streams }, 60)
  t.equal(r.status, NtStatus.BUFFER_OVERFLOW)
  t.equal(r.data.length, 38)
  t.equal(u32(r.data, 0), 0, 'last returned entry ends the chain')
  t.equal(status(() => queryFileInfo(C.FileStreamInformation, { info }, 23)), NtStatus.INFO_LENGTH_MISMATCH)
})

t.test('fixed classes: INFO_LENGTH_MISMATCH below size, exact fit ok', async t => {
  for (const cls of [C.FileBasicInformation, C.FileStandardInformation, C.FileInternalInformation, C.FileEaInformation,
    C.FileAccessInformation, C.FilePositionInformation, C.FileModeInformation, C.FileAlignmentInformation,
    C.FileCompressionInformation, C.FileNetworkOpenInformation, C.FileAttributeTagInformation, C.FileIdInformation]) {
    const size = fileInfoFixedSize(cls)!
    t.equal(encodeFileInfo(cls, { info }).length, size, `class ${cls} size`)
    t.equal(status(() => queryFileInfo(cls, { info }, size - 1)), NtStatus.INFO_LENGTH_MISMATCH)
    t.equal(queryFileInfo(cls, { info }, size).status, NtStatus.SUCCESS)
    t.equal(queryFileInfo(cls, { info }, 65536).data.length, size)
  }
})

t.test('unknown and unsupported classes', async t => {
  t.equal(status(() => encodeFileInfo(200, { info })), NtStatus.INVALID_INFO_CLASS)
  t.equal(status(() => encodeFileInfo(C.FileRenameInformation, { info })), NtStatus.INVALID_INFO_CLASS)
  t.equal(status(() => encodeFileInfo(C.FileDirectoryInformation, { info })), NtStatus.INVALID_INFO_CLASS)
  t.equal(status(() => encodeFileInfo(C.FileFullEaInformation, { info })), NtStatus.NOT_SUPPORTED)
  t.equal(status(() => encodeFileInfo(C.FilePipeLocalInformation, { info })), NtStatus.NOT_SUPPORTED)
})

const fs: FsInfo = {
  totalAllocationUnits: 1000n,
  availableAllocationUnits: 600n,
  callerAvailableAllocationUnits: 500n,
  sectorsPerAllocationUnit: 8,
  bytesPerSector: 512,
  volumeSerialNumber: 0xDEADBEEF,
  volumeLabel: 'share',
  volumeCreationTime: 0x01D0000000000000n,
  fileSystemName: 'NTFS',
  fileSystemAttributes: FILE_CASE_SENSITIVE_SEARCH | FILE_CASE_PRESERVED_NAMES | FILE_UNICODE_ON_DISK | FILE_PERSISTENT_ACLS,
  maximumComponentNameLength: 255
}

t.test('FileFsVolumeInformation', async t => {
  const b = encodeFsInfo(F.FileFsVolumeInformation, fs)
  t.equal(b.toString('hex'), '000000000000d001' + 'efbeadde' + '0a000000' + '00' + '00' + Buffer.from('share', 'utf16le').toString('hex'))
  t.equal(encodeFsInfo(F.FileFsVolumeInformation, { ...fs, fileSystemAttributes: FILE_SUPPORTS_OBJECT_IDS })[16], 1)
  const r = queryFsInfo(F.FileFsVolumeInformation, fs, 25)
  t.equal(r.status, NtStatus.BUFFER_OVERFLOW)
  t.equal(r.data.length, 25)
  t.equal(u32(r.data, 12), 10)
  t.equal(status(() => queryFsInfo(F.FileFsVolumeInformation, fs, 23)), NtStatus.INFO_LENGTH_MISMATCH, 'below sizeof(FILE_FS_VOLUME_INFORMATION), 24')
})

t.test('FileFsSizeInformation / FullSize / Device / SectorSize / Attribute', async t => {
  t.equal(encodeFsInfo(F.FileFsSizeInformation, fs).toString('hex'),
    'e803000000000000' + 'f401000000000000' + '08000000' + '00020000')
  t.equal(encodeFsInfo(F.FileFsFullSizeInformation, fs).toString('hex'),
    'e803000000000000' + 'f401000000000000' + '5802000000000000' + '08000000' + '00020000')
  t.equal(encodeFsInfo(F.FileFsDeviceInformation, fs).toString('hex'), '07000000' + '20000000')
  t.equal(u32(encodeFsInfo(F.FileFsDeviceInformation, fs), 0), FILE_DEVICE_DISK)
  t.equal(u32(encodeFsInfo(F.FileFsDeviceInformation, fs), 4), FILE_DEVICE_IS_MOUNTED)
  const ss = encodeFsInfo(F.FileFsSectorSizeInformation, fs)
  t.equal(ss.length, 28)
  t.equal(ss.toString('hex'), '00020000'.repeat(4) + '03000000' + '00000000' + '00000000')
  const a = encodeFsInfo(F.FileFsAttributeInformation, fs)
  t.equal(a.toString('hex'), '0f000000' + 'ff000000' + '08000000' + Buffer.from('NTFS', 'utf16le').toString('hex'))
  const r = queryFsInfo(F.FileFsAttributeInformation, fs, 16)
  t.equal(r.status, NtStatus.BUFFER_OVERFLOW)
  t.equal(r.data.length, 16)
  t.equal(status(() => queryFsInfo(F.FileFsAttributeInformation, fs, 15)), NtStatus.INFO_LENGTH_MISMATCH, 'below sizeof(FILE_FS_ATTRIBUTE_INFORMATION), 16')
  t.equal(status(() => queryFsInfo(F.FileFsSizeInformation, fs, 23)), NtStatus.INFO_LENGTH_MISMATCH)
})

t.test('FileFsObjectIdInformation and unsupported fs classes', async t => {
  t.equal(status(() => encodeFsInfo(F.FileFsObjectIdInformation, fs)), NtStatus.NOT_SUPPORTED)
  const id = Buffer.alloc(16, 0xAB)
  const b = encodeFsInfo(F.FileFsObjectIdInformation, fs, { objectId: id })
  t.equal(b.length, 64)
  t.same(b.subarray(0, 16), id)
  t.ok(b.subarray(16).every(x => x === 0))
  // Quotas are not kept: FileFsControlInformation says so (no thresholds, FILE_VC_QUOTA_NONE).
  const ctl = encodeFsInfo(F.FileFsControlInformation, fs)
  t.equal(ctl.toString('hex'), '00'.repeat(24) + 'ff'.repeat(16) + '00000000' + '00000000')
  t.equal(status(() => encodeFsInfo(F.FileFsLabelInformation, fs)), NtStatus.NOT_SUPPORTED)
  t.equal(status(() => encodeFsInfo(99, fs)), NtStatus.INVALID_INFO_CLASS)
})
