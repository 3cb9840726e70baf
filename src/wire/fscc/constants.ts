// File system control codes shared by QUERY_INFO, SET_INFO, QUERY_DIRECTORY and CREATE.
// Every constant is named once here, with the section that defines it.

// MS-FSCC 2.4 File Information Classes (the Level column).
export const FileInformationClass = {
  FileDirectoryInformation: 1,
  FileFullDirectoryInformation: 2,
  FileBothDirectoryInformation: 3,
  FileBasicInformation: 4,
  FileStandardInformation: 5,
  FileInternalInformation: 6,
  FileEaInformation: 7,
  FileAccessInformation: 8,
  FileNameInformation: 9,
  FileRenameInformation: 10,
  FileLinkInformation: 11,
  FileNamesInformation: 12,
  FileDispositionInformation: 13,
  FilePositionInformation: 14,
  FileFullEaInformation: 15,
  FileModeInformation: 16,
  FileAlignmentInformation: 17,
  FileAllInformation: 18,
  FileAllocationInformation: 19,
  FileEndOfFileInformation: 20,
  FileAlternateNameInformation: 21,
  FileStreamInformation: 22,
  FilePipeInformation: 23,
  FilePipeLocalInformation: 24,
  FilePipeRemoteInformation: 25,
  FileMailslotQueryInformation: 26,
  FileMailslotSetInformation: 27,
  FileCompressionInformation: 28,
  FileObjectIdInformation: 29,
  FileMoveClusterInformation: 31,
  FileQuotaInformation: 32,
  FileReparsePointInformation: 33,
  FileNetworkOpenInformation: 34,
  FileAttributeTagInformation: 35,
  FileTrackingInformation: 36,
  FileIdBothDirectoryInformation: 37,
  FileIdFullDirectoryInformation: 38,
  FileValidDataLengthInformation: 39,
  FileShortNameInformation: 40,
  FileSfioReserveInformation: 44,
  FileSfioVolumeInformation: 45,
  FileHardLinkInformation: 46,
  FileNormalizedNameInformation: 48,
  FileIdGlobalTxDirectoryInformation: 50,
  FileStandardLinkInformation: 54,
  FileIdInformation: 59,
  FileIdExtdDirectoryInformation: 60,
  FileDispositionInformationEx: 64,
  FileRenameInformationEx: 65,
  FileId64ExtdDirectoryInformation: 78,
  FileId64ExtdBothDirectoryInformation: 79,
  FileIdAllExtdDirectoryInformation: 80,
  FileIdAllExtdBothDirectoryInformation: 81
} as const
export type FileInformationClassValue = typeof FileInformationClass[keyof typeof FileInformationClass]

const documentedFileClasses = new Set<number>(Object.values(FileInformationClass))
/** True when `cls` is a FileInformationClass that MS-FSCC 2.4 documents (MS-SMB2 3.3.5.20.1). */
export const isDocumentedFileInformationClass = (cls: number): boolean => documentedFileClasses.has(cls)

// MS-FSCC 2.5 File System Information Classes.
export const FsInformationClass = {
  FileFsVolumeInformation: 1,
  FileFsLabelInformation: 2,
  FileFsSizeInformation: 3,
  FileFsDeviceInformation: 4,
  FileFsAttributeInformation: 5,
  FileFsControlInformation: 6,
  FileFsFullSizeInformation: 7,
  FileFsObjectIdInformation: 8,
  FileFsDriverPathInformation: 9,
  FileFsVolumeFlagsInformation: 10,
  FileFsSectorSizeInformation: 11
} as const
export type FsInformationClassValue = typeof FsInformationClass[keyof typeof FsInformationClass]

const documentedFsClasses = new Set<number>(Object.values(FsInformationClass))
/** True when `cls` is a FsInformationClass that MS-FSCC 2.5 documents (MS-SMB2 3.3.5.20.2). */
export const isDocumentedFsInformationClass = (cls: number): boolean => documentedFsClasses.has(cls)

// MS-FSCC 2.6 File Attributes.
export const FILE_ATTRIBUTE_READONLY = 0x00000001
export const FILE_ATTRIBUTE_HIDDEN = 0x00000002
export const FILE_ATTRIBUTE_SYSTEM = 0x00000004
export const FILE_ATTRIBUTE_DIRECTORY = 0x00000010
export const FILE_ATTRIBUTE_ARCHIVE = 0x00000020
export const FILE_ATTRIBUTE_NORMAL = 0x00000080
export const FILE_ATTRIBUTE_TEMPORARY = 0x00000100
export const FILE_ATTRIBUTE_SPARSE_FILE = 0x00000200
export const FILE_ATTRIBUTE_REPARSE_POINT = 0x00000400
export const FILE_ATTRIBUTE_COMPRESSED = 0x00000800
export const FILE_ATTRIBUTE_OFFLINE = 0x00001000
export const FILE_ATTRIBUTE_NOT_CONTENT_INDEXED = 0x00002000
export const FILE_ATTRIBUTE_ENCRYPTED = 0x00004000
export const FILE_ATTRIBUTE_INTEGRITY_STREAM = 0x00008000
export const FILE_ATTRIBUTE_NO_SCRUB_DATA = 0x00020000
export const FILE_ATTRIBUTE_RECALL_ON_OPEN = 0x00040000
export const FILE_ATTRIBUTE_PINNED = 0x00080000
export const FILE_ATTRIBUTE_UNPINNED = 0x00100000
export const FILE_ATTRIBUTE_RECALL_ON_DATA_ACCESS = 0x00400000

// MS-FSA FILE_ATTRIBUTE_VALID_FLAGS (0x7fb7): every attribute a file can be given, ENCRYPTED included.
export const FILE_ATTRIBUTE_VALID_FLAGS = FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM |
  FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_NORMAL | FILE_ATTRIBUTE_TEMPORARY |
  FILE_ATTRIBUTE_SPARSE_FILE | FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_COMPRESSED | FILE_ATTRIBUTE_OFFLINE |
  FILE_ATTRIBUTE_NOT_CONTENT_INDEXED | FILE_ATTRIBUTE_ENCRYPTED

// MS-FSA 2.1.5.15.2: the attributes a client may change with SET_INFO FileBasicInformation.
export const FILE_ATTRIBUTE_VALID_SET_FLAGS = FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN |
  FILE_ATTRIBUTE_SYSTEM | FILE_ATTRIBUTE_ARCHIVE | FILE_ATTRIBUTE_TEMPORARY | FILE_ATTRIBUTE_OFFLINE |
  FILE_ATTRIBUTE_NOT_CONTENT_INDEXED

// Access masks, ShareAccess, CreateDisposition and CreateOptions (MS-SMB2 2.2.13, also the Mode
// bits of FileModeInformation) are named in ../constants.ts.

// MS-FSCC 2.5.1 FileFsAttributeInformation: FileSystemAttributes.
export const FILE_CASE_SENSITIVE_SEARCH = 0x00000001
export const FILE_CASE_PRESERVED_NAMES = 0x00000002
export const FILE_UNICODE_ON_DISK = 0x00000004
export const FILE_PERSISTENT_ACLS = 0x00000008
export const FILE_FILE_COMPRESSION = 0x00000010
export const FILE_VOLUME_QUOTAS = 0x00000020
export const FILE_SUPPORTS_SPARSE_FILES = 0x00000040
export const FILE_SUPPORTS_REPARSE_POINTS = 0x00000080
export const FILE_SUPPORTS_REMOTE_STORAGE = 0x00000100
export const FILE_VOLUME_IS_COMPRESSED = 0x00008000
export const FILE_SUPPORTS_OBJECT_IDS = 0x00010000
export const FILE_SUPPORTS_ENCRYPTION = 0x00020000
export const FILE_NAMED_STREAMS = 0x00040000
export const FILE_READ_ONLY_VOLUME = 0x00080000
export const FILE_SEQUENTIAL_WRITE_ONCE = 0x00100000
export const FILE_SUPPORTS_TRANSACTIONS = 0x00200000
export const FILE_SUPPORTS_HARD_LINKS = 0x00400000
export const FILE_SUPPORTS_EXTENDED_ATTRIBUTES = 0x00800000
export const FILE_SUPPORTS_OPEN_BY_FILE_ID = 0x01000000
export const FILE_SUPPORTS_USN_JOURNAL = 0x02000000
export const FILE_SUPPORTS_INTEGRITY_STREAMS = 0x04000000
export const FILE_SUPPORTS_BLOCK_REFCOUNTING = 0x08000000
export const FILE_SUPPORTS_SPARSE_VDL = 0x10000000
export const FILE_DAX_VOLUME = 0x20000000
export const FILE_SUPPORTS_GHOSTING = 0x40000000

// MS-FSCC 2.5.10 FileFsDeviceInformation: DeviceType and Characteristics.
export const FILE_DEVICE_CD_ROM = 0x00000002
export const FILE_DEVICE_DISK = 0x00000007
export const FILE_REMOVABLE_MEDIA = 0x00000001
export const FILE_READ_ONLY_DEVICE = 0x00000002
export const FILE_FLOPPY_DISKETTE = 0x00000004
export const FILE_WRITE_ONCE_MEDIA = 0x00000008
export const FILE_REMOTE_DEVICE = 0x00000010
export const FILE_DEVICE_IS_MOUNTED = 0x00000020
export const FILE_VIRTUAL_VOLUME = 0x00000040
export const FILE_DEVICE_SECURE_OPEN = 0x00000100
export const FILE_CHARACTERISTIC_TS_DEVICE = 0x00001000
export const FILE_CHARACTERISTIC_WEBDAV_DEVICE = 0x00002000
export const FILE_DEVICE_ALLOW_APPCONTAINER_TRAVERSAL = 0x00020000
export const FILE_PORTABLE_DEVICE = 0x00040000

// MS-FSCC 2.5.7 FileFsSectorSizeInformation: Flags.
export const SSINFO_FLAGS_ALIGNED_DEVICE = 0x00000001
export const SSINFO_FLAGS_PARTITION_ALIGNED_ON_DEVICE = 0x00000002
export const SSINFO_FLAGS_NO_SEEK_PENALTY = 0x00000004
export const SSINFO_FLAGS_TRIM_ENABLED = 0x00000008
/** MS-FSCC 2.5.7: ByteOffsetForSectorAlignment/PartitionAlignment value meaning "unknown". */
export const SSINFO_OFFSET_UNKNOWN = 0xFFFFFFFF

// MS-FSCC 2.4 FileDispositionInformationEx: Flags.
export const FILE_DISPOSITION_DO_NOT_DELETE = 0x00000000
export const FILE_DISPOSITION_DELETE = 0x00000001
export const FILE_DISPOSITION_POSIX_SEMANTICS = 0x00000002
export const FILE_DISPOSITION_FORCE_IMAGE_SECTION_CHECK = 0x00000004
export const FILE_DISPOSITION_ON_CLOSE = 0x00000008
export const FILE_DISPOSITION_IGNORE_READONLY_ATTRIBUTE = 0x00000010

// MS-FSCC 2.4.15 FileFullEaInformation: Flags.
export const FILE_NEED_EA = 0x00000080

// MS-FSCC 2.4 FileCompressionInformation: CompressionFormat.
export const COMPRESSION_FORMAT_NONE = 0x0000
export const COMPRESSION_FORMAT_LZNT1 = 0x0002

// MS-FSCC 2.1.2.1 Reparse Tags (the ones a Linux server can meet).
export const IO_REPARSE_TAG_SYMLINK = 0xA000000C
export const IO_REPARSE_TAG_NFS = 0x80000014

/** MS-FSCC 2.4 FileAlignmentInformation: AlignmentRequirement of a byte-aligned device. */
export const FILE_BYTE_ALIGNMENT = 0x00000000
