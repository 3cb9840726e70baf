// QUERY_INFO with InfoType SMB2_0_INFO_FILESYSTEM: the MS-FSCC 2.5 structures.
//
// Output-length rules (MS-SMB2 3.3.5.20.2, MS-FSA 2.1.5.13.x), applied by queryFsInfo():
// - OutputBufferLength below the structure's size on Windows (for the two with a name, the fixed
//   part and its first character, padded: smbtorture smb2.getinfo.qfs_buffercheck) →
//   STATUS_INFO_LENGTH_MISMATCH (thrown).
// - FileFsVolumeInformation / FileFsAttributeInformation: fixed part plus as many label/name bytes
//   as fit, length fields keep the full length, status STATUS_BUFFER_OVERFLOW.
// - Everything else is fixed-size.
import { NtStatusError } from '../errors.js'
import { NtStatus } from '../ntstatus.js'
import {
  FsInformationClass as C, FILE_DEVICE_DISK, FILE_DEVICE_IS_MOUNTED, FILE_READ_ONLY_DEVICE,
  FILE_READ_ONLY_VOLUME, FILE_SUPPORTS_OBJECT_IDS, SSINFO_FLAGS_ALIGNED_DEVICE,
  SSINFO_FLAGS_PARTITION_ALIGNED_ON_DEVICE, SSINFO_FLAGS_TRIM_ENABLED, isDocumentedFsInformationClass
} from './constants.js'
import type { FsInfo, InfoResult } from './types.js'
import { utf16, writeU64 } from './util.js'

export const FILE_FS_VOLUME_INFORMATION_FIXED_SIZE = 18 // MS-FSCC 2.5.9 (up to VolumeLabel)
export const FILE_FS_SIZE_INFORMATION_SIZE = 24 // MS-FSCC 2.5.8
export const FILE_FS_DEVICE_INFORMATION_SIZE = 8 // MS-FSCC 2.5.10
export const FILE_FS_ATTRIBUTE_INFORMATION_FIXED_SIZE = 12 // MS-FSCC 2.5.1 (up to FileSystemName)
export const FILE_FS_FULL_SIZE_INFORMATION_SIZE = 32 // MS-FSCC 2.5.4
export const FILE_FS_OBJECTID_INFORMATION_SIZE = 64 // MS-FSCC 2.5.6
export const FILE_FS_SECTOR_SIZE_INFORMATION_SIZE = 28 // MS-FSCC 2.5.7
export const FILE_FS_CONTROL_INFORMATION_SIZE = 48 // MS-FSCC 2.5.2
// sizeof() of the structures with a name on Windows.
export const FILE_FS_VOLUME_INFORMATION_MIN_SIZE = 24
export const FILE_FS_ATTRIBUTE_INFORMATION_MIN_SIZE = 16
/** MS-FSCC 2.5.2 FileSystemControlFlags: FILE_VC_QUOTA_NONE, quotas neither tracked nor enforced. */
export const FILE_VC_QUOTA_NONE = 0x00000000

/** Things about a volume that FsInfo does not carry. */
export interface FsQueryOptions {
  /** FileFsObjectIdInformation: the volume's 16-byte object id (+ optional 48-byte ExtendedInfo).
   *  Without it the class is STATUS_NOT_SUPPORTED (MS-SMB2 3.3.5.20.2: store lacks the data). */
  objectId?: Buffer
  extendedInfo?: Buffer
  /** FileFsDeviceInformation: Characteristics; default FILE_DEVICE_IS_MOUNTED (+ READ_ONLY_DEVICE
   *  when fileSystemAttributes has FILE_READ_ONLY_VOLUME). */
  deviceCharacteristics?: number
}

interface FsCodec { fixed: number, min?: number, variable: boolean, encode: (fs: FsInfo, o: FsQueryOptions) => Buffer }

function fixedFs (size: number, fill: (b: Buffer, fs: FsInfo, o: FsQueryOptions) => void): FsCodec {
  return { fixed: size, variable: false, encode: (fs, o) => { const b = Buffer.alloc(size); fill(b, fs, o); return b } }
}

const codecs = new Map<number, FsCodec>([
  // MS-FSCC 2.5.9: VolumeCreationTime, VolumeSerialNumber, VolumeLabelLength, SupportsObjects, Reserved, VolumeLabel
  [C.FileFsVolumeInformation, {
    fixed: FILE_FS_VOLUME_INFORMATION_FIXED_SIZE,
    min: FILE_FS_VOLUME_INFORMATION_MIN_SIZE,
    variable: true,
    encode: (fs) => {
      const label = utf16(fs.volumeLabel)
      const b = Buffer.alloc(FILE_FS_VOLUME_INFORMATION_FIXED_SIZE + label.length)
      writeU64(b, 0, fs.volumeCreationTime)
      b.writeUInt32LE(fs.volumeSerialNumber >>> 0, 8)
      b.writeUInt32LE(label.length, 12)
      b.writeUInt8((fs.fileSystemAttributes & FILE_SUPPORTS_OBJECT_IDS) !== 0 ? 1 : 0, 16)
      label.copy(b, 18)
      return b
    }
  }],
  // MS-FSCC 2.5.8: TotalAllocationUnits, AvailableAllocationUnits (the caller's), SectorsPerAllocationUnit, BytesPerSector
  [C.FileFsSizeInformation, fixedFs(FILE_FS_SIZE_INFORMATION_SIZE, (b, fs) => {
    writeU64(b, 0, fs.totalAllocationUnits)
    writeU64(b, 8, fs.callerAvailableAllocationUnits)
    b.writeUInt32LE(fs.sectorsPerAllocationUnit >>> 0, 16)
    b.writeUInt32LE(fs.bytesPerSector >>> 0, 20)
  })],
  // MS-FSCC 2.5.10: DeviceType, Characteristics
  [C.FileFsDeviceInformation, fixedFs(FILE_FS_DEVICE_INFORMATION_SIZE, (b, fs, o) => {
    const ch = o.deviceCharacteristics ??
      (FILE_DEVICE_IS_MOUNTED | ((fs.fileSystemAttributes & FILE_READ_ONLY_VOLUME) !== 0 ? FILE_READ_ONLY_DEVICE : 0))
    b.writeUInt32LE(FILE_DEVICE_DISK, 0)
    b.writeUInt32LE(ch >>> 0, 4)
  })],
  // MS-FSCC 2.5.1: FileSystemAttributes, MaximumComponentNameLength, FileSystemNameLength, FileSystemName
  [C.FileFsAttributeInformation, {
    fixed: FILE_FS_ATTRIBUTE_INFORMATION_FIXED_SIZE,
    min: FILE_FS_ATTRIBUTE_INFORMATION_MIN_SIZE,
    variable: true,
    encode: (fs) => {
      const name = utf16(fs.fileSystemName)
      const b = Buffer.alloc(FILE_FS_ATTRIBUTE_INFORMATION_FIXED_SIZE + name.length)
      b.writeUInt32LE(fs.fileSystemAttributes >>> 0, 0)
      b.writeInt32LE(fs.maximumComponentNameLength | 0, 4)
      b.writeUInt32LE(name.length, 8)
      name.copy(b, 12)
      return b
    }
  }],
  // MS-FSCC 2.5.4: TotalAllocationUnits, CallerAvailableAllocationUnits, ActualAvailableAllocationUnits, SectorsPerAllocationUnit, BytesPerSector
  [C.FileFsFullSizeInformation, fixedFs(FILE_FS_FULL_SIZE_INFORMATION_SIZE, (b, fs) => {
    writeU64(b, 0, fs.totalAllocationUnits)
    writeU64(b, 8, fs.callerAvailableAllocationUnits)
    writeU64(b, 16, fs.availableAllocationUnits)
    b.writeUInt32LE(fs.sectorsPerAllocationUnit >>> 0, 24)
    b.writeUInt32LE(fs.bytesPerSector >>> 0, 28)
  })],
  // MS-FSCC 2.5.2: the volume's quota settings. smbts keeps no NTFS quotas: no filtering, no
  // default threshold or limit (-1: none), FILE_VC_QUOTA_NONE, so a client asking (smbtorture
  // smb2.getinfo.fsinfo, Windows' quota tab) is told quotas are off rather than refused.
  [C.FileFsControlInformation, fixedFs(FILE_FS_CONTROL_INFORMATION_SIZE, (b) => {
    // FreeSpaceStartFiltering, FreeSpaceThreshold, FreeSpaceStopFiltering: 0
    b.writeBigUInt64LE(0xFFFF_FFFF_FFFF_FFFFn, 24) // DefaultQuotaThreshold
    b.writeBigUInt64LE(0xFFFF_FFFF_FFFF_FFFFn, 32) // DefaultQuotaLimit
    b.writeUInt32LE(FILE_VC_QUOTA_NONE, 40)
  })],
  // MS-FSCC 2.5.6: ObjectId (16), ExtendedInfo (48)
  [C.FileFsObjectIdInformation, fixedFs(FILE_FS_OBJECTID_INFORMATION_SIZE, (b, _fs, o) => {
    if (o.objectId === undefined) throw new NtStatusError(NtStatus.NOT_SUPPORTED)
    o.objectId.copy(b, 0, 0, 16)
    o.extendedInfo?.copy(b, 16, 0, 48)
  })],
  // MS-FSCC 2.5.7: all four sector sizes are the logical one; aligned device and partition, offsets 0.
  [C.FileFsSectorSizeInformation, fixedFs(FILE_FS_SECTOR_SIZE_INFORMATION_SIZE, (b, fs) => {
    const s = fs.bytesPerSector >>> 0
    b.writeUInt32LE(s, 0) // LogicalBytesPerSector
    b.writeUInt32LE(s, 4) // PhysicalBytesPerSectorForAtomicity
    b.writeUInt32LE(s, 8) // PhysicalBytesPerSectorForPerformance
    b.writeUInt32LE(s, 12) // FileSystemEffectivePhysicalBytesPerSectorForAtomicity
    b.writeUInt32LE(SSINFO_FLAGS_ALIGNED_DEVICE | SSINFO_FLAGS_PARTITION_ALIGNED_ON_DEVICE | (fs.trimEnabled === true ? SSINFO_FLAGS_TRIM_ENABLED : 0), 16)
    // ByteOffsetForSectorAlignment, ByteOffsetForPartitionAlignment: 0
  })]
])

function codecFor (cls: number): FsCodec {
  const codec = codecs.get(cls)
  if (codec !== undefined) return codec
  // MS-SMB2 3.3.5.20.2: documented in MS-FSCC 2.5 but not served (Label is set-only, Control is
  // quota, DriverPath/VolumeFlags are local) → NOT_SUPPORTED; undocumented → INVALID_INFO_CLASS.
  if (isDocumentedFsInformationClass(cls)) throw new NtStatusError(NtStatus.NOT_SUPPORTED)
  throw new NtStatusError(NtStatus.INVALID_INFO_CLASS, `unknown fs information class ${cls}`)
}

/** The fixed-part size of a served FS class (undefined when not served). */
export function fsInfoFixedSize (cls: number): number | undefined {
  return codecs.get(cls)?.fixed
}

/** Encode a FILESYSTEM-class answer in full. */
export function encodeFsInfo (cls: number, fs: FsInfo, options: FsQueryOptions = {}): Buffer {
  return codecFor(cls).encode(fs, options)
}

/** Encode a FILESYSTEM-class answer for a client buffer of `outputBufferLength` bytes. */
export function queryFsInfo (cls: number, fs: FsInfo, outputBufferLength: number, options: FsQueryOptions = {}): InfoResult {
  const codec = codecFor(cls)
  if (outputBufferLength < (codec.min ?? codec.fixed)) throw new NtStatusError(NtStatus.INFO_LENGTH_MISMATCH)
  const full = codec.encode(fs, options)
  if (full.length <= outputBufferLength) return { status: NtStatus.SUCCESS, data: full }
  if (!codec.variable) throw new NtStatusError(NtStatus.INFO_LENGTH_MISMATCH)
  // MS-FSA 2.1.5.13.1 / 2.1.5.13.5: BytesToCopy = RemainingLength.
  return { status: NtStatus.BUFFER_OVERFLOW, data: full.subarray(0, outputBufferLength) }
}
