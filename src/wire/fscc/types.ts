// The model the VFS hands to the FSCC encoders: one stat-like record per file, one per volume.

export interface FileInfo {
  creationTime: bigint; lastAccessTime: bigint; lastWriteTime: bigint; changeTime: bigint // FILETIME, 100 ns since 1601
  endOfFile: bigint; allocationSize: bigint
  fileAttributes: number          // FILE_ATTRIBUTE_* (MS-FSCC 2.6)
  indexNumber: bigint             // inode
  numberOfLinks: number
  isDirectory: boolean
  deletePending?: boolean
  eaSize?: number
}

export interface FsInfo {
  totalAllocationUnits: bigint; availableAllocationUnits: bigint; callerAvailableAllocationUnits: bigint
  sectorsPerAllocationUnit: number; bytesPerSector: number
  volumeSerialNumber: number; volumeLabel: string; volumeCreationTime: bigint
  fileSystemName: string          // "NTFS"
  fileSystemAttributes: number; maximumComponentNameLength: number
  /** FileFsSectorSizeInformation's SSINFO_FLAGS_TRIM_ENABLED: FSCTL_FILE_LEVEL_TRIM is served. */
  trimEnabled?: boolean
}

/** A QUERY_INFO answer: STATUS_SUCCESS, or STATUS_BUFFER_OVERFLOW with the data that fitted. */
export interface InfoResult { status: number; data: Buffer }
