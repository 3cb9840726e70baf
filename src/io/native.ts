// The typed face of native/ (the N-API addon, native/build/Release/smbts.node).
//
// Thin on purpose: no policy lives here. Where each call runs:
//
// - On the libuv threadpool: the file operations that return a Promise (openat2, statx,
//   statxXattr, statxBatch, getdents, pread, pwrite, fsync, the xattr calls, close, ...;
//   native/src/fsops.c). A failed syscall rejects with an Error carrying `code` (errno name,
//   'ENOENT'), `errno` (positive number) and `syscall`. Bad arguments reject with a
//   TypeError/RangeError (`code` ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE).
//   gssAccept too (native/src/gss.c): the Kerberos acceptor reads the keytab and writes the replay
//   cache there; it resolves with the GSS status, never rejects for a refused token.
// - On the calling (JS) thread, synchronously, holding it for as long as their syscalls take:
//   the *Now calls (openat2Now, statxXattrNow, openStatNow, closeNow, fcntlSetflNow, pwriteNow,
//   fsTypeNow, sleepsNow, nameToHandleNow, openByHandleNow, unlinkatNow, flistxattrNow;
//   native/src/fsnow.c), which return the result or -errno and never throw
//   for an errno; the socket calls (listenTcp, peerName, setNoDelay, sendNow, fdSocket, sendFd,
//   recvFd; native/src/sock.c),
//   which throw that same Error for a failed syscall; mountFs and umount2 (native/src/mount.c,
//   the same); wakeProbe, which also starts a thread of its own to drive the other end; aeadNow;
//   counters, mallocTrimNow; gssGetMic, gssVerifyMic, gssRelease. Bad arguments throw.
// - The io_uring Ring (src/io/ring.ts, native/src/ring*.c) runs on this thread too: its preps,
//   submits and completion callbacks, and with DEFER_TASKRUN the event loop's sleep itself.
//
// Confinement: only `openat2` takes RESOLVE_* flags. mkdirat, unlinkat, renameat2, linkat,
// symlinkat, readlinkat and statx resolve their whole path unconfined, so callers pass a parent
// directory fd obtained from `openat2(root, dir, O_PATH|O_DIRECTORY, 0, RESOLVE_BENEATH|...)` and
// one final component that is not '.' or '..'.
//
// Re-opening an O_PATH fd with other flags through /proc/self/fd/N is a magic link, which
// RESOLVE_NO_MAGICLINKS (rightly) refuses, and openat2(fd, '', ...) is not allowed either: open
// the name again from its parent directory fd instead.
//
// Importing this module never throws: when the addon is missing or fails to load,
// `nativeAvailable` is false, `nativeLoadError` says why, and any use of `native` throws an
// Error with code SMBTS_ERR_NATIVE_UNAVAILABLE.

import { createRequire } from 'node:module'
import { getSystemErrorMessage, getSystemErrorName } from 'node:util'

/** A path as the kernel sees it: a UTF-8 string or raw bytes. */
export type NativePath = string | Uint8Array
/** A 64-bit integer: a safe-integer number or a bigint. */
export type Int64 = number | bigint

export interface Statx {
  /** STATX_* bits the filesystem actually filled in. */
  mask: number;
  blksize: number;
  /** STATX_ATTR_* bits. */
  attributes: number;
  attributesMask: number;
  nlink: number;
  uid: number;
  gid: number;
  /** File type and permission bits (S_IFMT | 0o7777). */
  mode: number;
  ino: bigint;
  size: bigint;
  /** 512-byte blocks allocated. */
  blocks: bigint;
  /** Nanoseconds since the Unix epoch. */
  atimeNs: bigint;
  /** 0n when the filesystem reports no birth time (mask lacks STATX_BTIME). */
  btimeNs: bigint;
  ctimeNs: bigint;
  mtimeNs: bigint;
  /** makedev(major, minor) of the device holding the file. */
  dev: bigint;
  rdev: bigint;
  /** Mount id (STATX_MNT_ID), 0n when not reported. */
  mntId: bigint;
}

export interface StatxXattr extends Statx {
  /** The attribute's value, or null when it could not be read (see xattrError). */
  xattr: Buffer | null;
  /** errno name of the failed read ('ENODATA': no such attribute), null when xattr was read. */
  xattrError: string | null;
}

/** What dropPrivileges left the process with, read back from the kernel. */
export interface DroppedPrivileges {
  uid: number;
  gid: number;
  chrooted: boolean;
  noNewPrivs: boolean;
  /** The capability sets (64 bits as a number): 0 when none is left. */
  capEffective: number;
  capPermitted: number;
}

export interface NativeDirent {
  /** The raw name bytes (Linux names are bytes, usually UTF-8). */
  name: Buffer;
  ino: bigint;
  /** DT_* */
  type: number;
}

/** getdents() result: every entry (including '.' and '..') in kernel order. */
export interface NativeDirentList extends Array<NativeDirent> {
  /** True when the listing stopped at maxEntries or the addon's byte cap (256 MiB of records). */
  truncated: boolean;
}

/** Rejection value of a failed syscall. */
export interface NativeErrnoError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface NativeCounters {
  /** Operations queued, per kind, since the addon loaded in this thread. */
  ops: Record<NativeOpName, number>;
  /** Operations that settled with an error, per kind. */
  errors: Record<NativeOpName, number>;
  /** Operations queued and not yet settled. */
  inflight: number;
}

export type NativeOpName =
  | 'openat2' | 'mkdirat' | 'unlinkat' | 'renameat2' | 'linkat' | 'symlinkat' | 'readlinkat' | 'mknodat'
  | 'statx' | 'statxXattr' | 'statxBatch' | 'getdents' | 'fsync' | 'fdatasync' | 'fallocate' | 'copyFileRange' | 'cloneRange' | 'ftruncate' | 'futimens'
  | 'fchmod' | 'fchown' | 'fgetxattr' | 'fsetxattr' | 'flistxattr' | 'fremovexattr' | 'close'
  | 'pread' | 'pwrite' | 'allocatedRanges'

/** Linux values, exported by the addon from the C headers it was built with. */
export interface NativeConstants {
  readonly O_RDONLY: number; readonly O_WRONLY: number; readonly O_RDWR: number;
  readonly O_ACCMODE: number; readonly O_CREAT: number; readonly O_EXCL: number;
  readonly O_NOCTTY: number; readonly O_TRUNC: number; readonly O_APPEND: number;
  readonly O_NONBLOCK: number; readonly O_DSYNC: number; readonly O_SYNC: number;
  readonly O_DIRECT: number; readonly O_DIRECTORY: number; readonly O_NOFOLLOW: number;
  readonly O_NOATIME: number; readonly O_CLOEXEC: number; readonly O_PATH: number;
  readonly O_TMPFILE: number;

  readonly RESOLVE_NO_XDEV: number; readonly RESOLVE_NO_MAGICLINKS: number;
  readonly RESOLVE_NO_SYMLINKS: number; readonly RESOLVE_BENEATH: number;
  readonly RESOLVE_IN_ROOT: number; readonly RESOLVE_CACHED: number;

  readonly AT_FDCWD: number; readonly AT_SYMLINK_NOFOLLOW: number;
  readonly AT_SYMLINK_FOLLOW: number; readonly AT_REMOVEDIR: number;
  readonly AT_EMPTY_PATH: number; readonly AT_NO_AUTOMOUNT: number;
  readonly AT_STATX_SYNC_AS_STAT: number; readonly AT_STATX_FORCE_SYNC: number;
  readonly AT_STATX_DONT_SYNC: number;

  readonly RENAME_NOREPLACE: number; readonly RENAME_EXCHANGE: number;
  readonly RENAME_WHITEOUT: number;

  readonly STATX_TYPE: number; readonly STATX_MODE: number; readonly STATX_NLINK: number;
  readonly STATX_UID: number; readonly STATX_GID: number; readonly STATX_ATIME: number;
  readonly STATX_MTIME: number; readonly STATX_CTIME: number; readonly STATX_INO: number;
  readonly STATX_SIZE: number; readonly STATX_BLOCKS: number; readonly STATX_BASIC_STATS: number;
  readonly STATX_BTIME: number; readonly STATX_MNT_ID: number; readonly STATX_DIOALIGN: number;
  readonly STATX_ATTR_COMPRESSED: number; readonly STATX_ATTR_IMMUTABLE: number;
  readonly STATX_ATTR_APPEND: number; readonly STATX_ATTR_NODUMP: number;
  readonly STATX_ATTR_ENCRYPTED: number; readonly STATX_ATTR_AUTOMOUNT: number;
  readonly STATX_ATTR_MOUNT_ROOT: number; readonly STATX_ATTR_VERITY: number;
  readonly STATX_ATTR_DAX: number;

  readonly FALLOC_FL_KEEP_SIZE: number; readonly FALLOC_FL_PUNCH_HOLE: number;
  readonly FALLOC_FL_NO_HIDE_STALE: number; readonly FALLOC_FL_COLLAPSE_RANGE: number;
  readonly FALLOC_FL_ZERO_RANGE: number; readonly FALLOC_FL_INSERT_RANGE: number;
  readonly FALLOC_FL_UNSHARE_RANGE: number;

  readonly DT_UNKNOWN: number; readonly DT_FIFO: number; readonly DT_CHR: number;
  readonly DT_DIR: number; readonly DT_BLK: number; readonly DT_REG: number;
  readonly DT_LNK: number; readonly DT_SOCK: number; readonly DT_WHT: number;

  readonly S_IFMT: number; readonly S_IFSOCK: number; readonly S_IFLNK: number;
  readonly S_IFREG: number; readonly S_IFBLK: number; readonly S_IFDIR: number;
  readonly S_IFCHR: number; readonly S_IFIFO: number;

  readonly XATTR_CREATE: number; readonly XATTR_REPLACE: number;
}

/** An inotify instance of the addon (an opaque external). */
export type InotifyHandle = object & { readonly __brand: 'inotify' }
/** A fanotify instance of the addon (an opaque external). */
export type FanotifyHandle = object & { readonly __brand: 'fanotify' }

export interface NativeAddon {
  readonly constants: NativeConstants;
  counters(): NativeCounters;
  /** malloc_trim(0) now: glibc returns every arena's free pages to the kernel; true if it gave any back. */
  mallocTrimNow(): boolean;

  /** openat2(2). O_CLOEXEC is always added; `mode` is ignored unless O_CREAT or O_TMPFILE. */
  openat2(dirfd: number, path: NativePath, flags: number, mode: number, resolve: number): Promise<number>;
  mkdirat(dirfd: number, path: NativePath, mode: number): Promise<void>;
  /** flags: 0 or AT_REMOVEDIR. */
  unlinkat(dirfd: number, path: NativePath, flags: number): Promise<void>;
  /** flags: 0, RENAME_NOREPLACE, RENAME_EXCHANGE. */
  renameat2(olddirfd: number, oldpath: NativePath, newdirfd: number, newpath: NativePath, flags: number): Promise<void>;
  /** flags: 0, AT_SYMLINK_FOLLOW, AT_EMPTY_PATH. */
  linkat(olddirfd: number, oldpath: NativePath, newdirfd: number, newpath: NativePath, flags: number): Promise<void>;
  /** Makes `path` (relative to dirfd) a symlink whose content is `target`. */
  symlinkat(target: NativePath, dirfd: number, path: NativePath): Promise<void>;
  /** The link's content, as bytes. */
  readlinkat(dirfd: number, path: NativePath): Promise<Buffer>;
  /** mknodat(2) of a FIFO or a socket (`mode` with S_IFIFO or S_IFSOCK); anything else is EPERM. */
  mknodat(dirfd: number, path: NativePath, mode: number): Promise<void>;
  /** Use `(fd, '', AT_EMPTY_PATH, mask)` to stat an open fd (O_PATH fds included). */
  statx(dirfd: number, path: NativePath, flags: number, mask: number): Promise<Statx>;
  /**
   * statx(2) and, in the same threadpool job, the extended attribute `name` of the same file (not
   * following a final symlink when flags has AT_SYMLINK_NOFOLLOW; O_PATH fds work). A failed statx
   * rejects; a failed xattr read does not: `xattr` is null and `xattrError` the errno name
   * ('ENODATA' when the file has none, 'EOPNOTSUPP' when the file system keeps no user xattrs,
   * 'ERANGE' when the value exceeds 256 bytes).
   */
  statxXattr(dirfd: number, path: NativePath, flags: number, mask: number, name: NativePath): Promise<StatxXattr>;
  /**
   * statx (and, unless `xattrName` is '', that xattr) of many names inside `dirfd`, in one
   * threadpool job. `names` holds each name followed by a NUL (getdentsNames' packing). Resolves
   * with one STATX_BATCH_RECORD-byte record per name, in order: int32 statx result (0 or -errno),
   * int32 xattr result (its length, or -errno), the struct statx (256 bytes, ring.ts
   * decodeStatx reads it), the xattr value (up to 256 bytes). See decodeStatxBatch.
   */
  statxBatch(dirfd: number, names: Uint8Array, flags: number, mask: number, xattrName: string): Promise<Buffer>;
  /**
   * Lists a directory fd (not O_PATH) from the start with getdents64; '.' and '..' included.
   * Stops at `maxEntries` (default 1,048,576; at most 16,777,216) and sets `truncated`.
   */
  getdents(fd: number, maxEntries?: number): Promise<NativeDirentList>;
  /**
   * getdents() names only, packed: every name followed by a NUL byte, in kernel order ('.' and
   * '..' included), in one Buffer; same limits. For scans that need only names (case-insensitive
   * lookup): no object, Buffer or BigInt per entry.
   */
  getdentsNames(fd: number, maxEntries?: number): Promise<Buffer & { truncated: boolean }>;

  fsync(fd: number): Promise<void>;
  fdatasync(fd: number): Promise<void>;
  /** mode: 0 or FALLOC_FL_* bits; len must be > 0. */
  fallocate(fd: number, mode: number, offset: Int64, len: Int64): Promise<void>;
  /**
   * The data (not the holes) of [offset, offset + length), at most `max` ranges, found by lseek(2)
   * SEEK_DATA and SEEK_HOLE on the threadpool: int64 pairs (offset, length), little-endian.
   */
  allocatedRanges(fd: number, offset: number, length: number, max: number): Promise<Buffer>;
  /**
   * The bytes of the file's extents at or past `offset` (FS_IOC_FIEMAP: written, preallocated or
   * delayed), -1 where the file system has no FIEMAP. Synchronous (the extent map, no I/O).
   */
  extentBytes(fd: number, offset: number): number;
  /**
   * copy_file_range(2): `len` bytes from `fdIn` at `offIn` to `fdOut` at `offOut`, in the kernel
   * (a reflink where the file system shares extents); resolves with the bytes copied, fewer at
   * the source's end.
   */
  copyFileRange(fdIn: number, offIn: Int64, fdOut: number, offOut: Int64, len: Int64): Promise<number>;
  /** ioctl(fdOut, FICLONERANGE): fdOut's [offOut, offOut + len) shares fdIn's blocks (len 0: to
   *  fdIn's end). EOPNOTSUPP where the file system has no reflinks, EINVAL for unaligned ranges. */
  cloneRange(fdIn: number, offIn: Int64, fdOut: number, offOut: Int64, len: Int64): Promise<number>;
  ftruncate(fd: number, len: Int64): Promise<void>;
  /**
   * Nanoseconds since the epoch (a bigint may exceed 64 bits: up to 2^127); null leaves that time
   * unchanged (UTIME_OMIT). The kernel clamps to what the file system can store.
   */
  futimens(fd: number, atimeNs: Int64 | null, mtimeNs: Int64 | null): Promise<void>;
  fchmod(fd: number, mode: number): Promise<void>;
  /** -1 leaves the id unchanged. */
  fchown(fd: number, uid: number, gid: number): Promise<void>;

  fgetxattr(fd: number, name: NativePath): Promise<Buffer>;
  /** flags: 0, XATTR_CREATE or XATTR_REPLACE. The value is referenced, not copied, until done. */
  fsetxattr(fd: number, name: NativePath, value: Uint8Array, flags: number): Promise<void>;
  flistxattr(fd: number): Promise<string[]>;
  fremovexattr(fd: number, name: NativePath): Promise<void>;

  close(fd: number): Promise<void>;

  /**
   * One pread(2) into buffer[offset, offset + length) from file `position`; resolves with the
   * bytes read (0 at end of file). The buffer stays referenced until the read completes; do not
   * transfer or detach its ArrayBuffer meanwhile.
   */
  pread(fd: number, buffer: Uint8Array, offset: number, length: number, position: Int64): Promise<number>;
  /** One pwrite(2) of buffer[offset, offset + length) at `position`; resolves with bytes written. */
  pwrite(fd: number, buffer: Uint8Array, offset: number, length: number, position: Int64): Promise<number>;

  /**
   * A non-blocking, close-on-exec TCP listener on a numeric address, that libuv never watches
   * (the ring's multishot accept takes its connections); '::' takes IPv4 too. Synchronous.
   */
  listenTcp(host: string, port: number, backlog: number, reusePort: number): SocketAddress & { fd: number };
  /** getpeername(2) of a connected socket. Synchronous. */
  peerName(fd: number): SocketAddress;
  /** TCP_NODELAY on. Synchronous. */
  setNoDelay(fd: number): void;
  /** The bytes of the connection's stream the peer acknowledged (TCP_INFO tcpi_bytes_acked), or
   *  -errno. Synchronous. Absent from an addon built before it existed. */
  tcpBytesAcked?(fd: number): number;
  /** mount(2) (the control mount's FUSE file system). Synchronous; throws the errno Error. */
  mountFs(source: string, target: string, fstype: string, flags: number, data: string): void;
  /** umount2(2). Synchronous; throws the errno Error (EINVAL: not a mount point). */
  umount2(target: string, flags: number): void;
  /**
   * A non-blocking inotify(7) instance polled on this thread's loop (native/src/inotify.c): each
   * time it is readable, `onEvents` gets the raw struct inotify_event records read
   * (src/vfs/inotify-events.ts decodes them). The poll does not keep the process alive.
   */
  inotifyOpen(onEvents: (records: Buffer) => void): InotifyHandle;
  /** inotify_add_watch(2): the watch descriptor. Synchronous; throws the errno Error. */
  inotifyAdd(h: InotifyHandle, path: string, mask: number): number;
  /** inotify_rm_watch(2); a watch the kernel already dropped is fine. Synchronous. */
  inotifyRemove(h: InotifyHandle, wd: number): void;
  /** What one read of the instance gives now (null: nothing queued). Synchronous. */
  inotifyRead(h: InotifyHandle): Buffer | null;
  /** Stops the poll and closes the instance; later calls on `h` throw EBADF. */
  inotifyClose(h: InotifyHandle): void;
  /**
   * A non-blocking fanotify(7) notification instance (FAN_CLASS_NOTIF; needs CAP_SYS_ADMIN),
   * polled as inotifyOpen's: `onEvents` gets fixed 32-byte records (src/vfs/local-changes.ts
   * decodes them), each event's descriptor closed in C. Throws the errno Error (EPERM).
   */
  fanotifyOpen(onEvents: (records: Buffer) => void): FanotifyHandle;
  /** fanotify_mark(2) of the file open as `fd` (an inode mark), added or removed. Synchronous. */
  fanotifyMark(h: FanotifyHandle, fd: number, mask: number, add: boolean): void;
  /** Stops the poll and closes the instance. */
  fanotifyClose(h: FanotifyHandle): void;
  /**
   * The RPC process gives up its privileges (native/src/privs.c): as root, chroot(rootDir) when
   * given, no supplementary groups, all three uids and gids set; then no_new_privs. Not root:
   * only no_new_privs. Synchronous; throws the errno Error of the step that failed.
   */
  dropPrivileges(rootDir: string | null, uid: number, gid: number): DroppedPrivileges;
  /**
   * A seccomp filter on every thread (native/src/privs.c) refusing with EPERM execve, ptrace,
   * mounts, namespaces, modules, BPF, keys, io_uring_setup and non-Unix sockets. False: not on
   * this architecture. Synchronous; throws the errno Error.
   */
  restrictSyscalls(): boolean;
  /**
   * One non-blocking sendmsg of up to 64 Buffers, now: the bytes the socket took (0 if none,
   * EAGAIN). Synchronous; it never waits. Other errors throw (EPIPE, ECONNRESET...).
   */
  sendNow(fd: number, buffers: Buffer[]): number;
  /**
   * A connected TCP loopback pair whose other end a thread of the addon drives: one-byte
   * ping-pongs, each waiting for its answer, `rounds` of them or until `budgetMs`, then it closes
   * its end. Returns our end (blocking, close-on-exec) for the ring's start-up self-check.
   * Synchronous; the other end's thread is plain C and outlives the call.
   */
  wakeProbe(rounds: number, budgetMs: number): number;
  /**
   * A non-blocking, close-on-exec unix datagram socket bound at `path` (which must not exist):
   * a worker's end for connections handed to it (src/transport/handoff.ts). Synchronous.
   */
  fdSocket(path: string): number;
  /**
   * One datagram from `sock` to the socket bound at `path`: `buffer`, and a duplicate of `fd`
   * (SCM_RIGHTS). Now, never waiting: a full queue throws EAGAIN, no peer ENOENT/ECONNREFUSED.
   * `fd` stays the caller's. Synchronous.
   */
  sendFd(sock: number, path: string, fd: number, buffer: Uint8Array): void;
  /**
   * The next datagram on `sock`, into `buffer`, now: null when none is queued; `fd` the fd it
   * carried (close-on-exec; -1: none; extra ones are closed); `truncated` when it did not fit
   * (close the fd unused). Synchronous.
   */
  recvFd(sock: number, buffer: Uint8Array): { fd: number, length: number, truncated: boolean } | null;

  // Synchronous metadata calls on the calling thread (src/vfs/inline.ts decides when): each
  // returns its result or -errno, never throws for an errno.
  /** openat2(2) now: the fd, or -errno (O_CLOEXEC added; RESOLVE_CACHED gives -EAGAIN rather than wait). */
  openat2Now(dirfd: number, path: NativePath, flags: number, mode: number, resolve: number): number;
  /**
   * statx(2) and (xattrName not '') one xattr of `path` in `dirfd`, now, written as one
   * statxBatch record at the start of `out` (STATX_BATCH_RECORD bytes at least). Returns the
   * statx result (0 or -errno). `opath`: dirfd is an O_PATH fd, whose own xattr is read through
   * /proc/self/fd at once (getxattrat refuses O_PATH fds).
   */
  statxXattrNow(dirfd: number, path: NativePath, flags: number, mask: number, xattrName: string, out: Uint8Array, opath?: boolean): number;
  /**
   * The open of a name that exists, now, in one call: an O_PATH probe says what the name is, and
   * only a regular file or a directory is then opened (`flags`: no O_CREAT/O_TRUNC; a directory
   * opens O_DIRECTORY|O_RDONLY whatever the access mode; a file never waits, as openat2Now; with
   * O_DIRECTORY only a directory is opened, and no probe is needed), with
   * its statx (`mask`) and xattr written as one statxBatch record at the start of `out`. The fd, or
   * -errno; -ENOTSUP when the name is something else (a FIFO, a device, a socket, a symlink not
   * followed).
   */
  openStatNow(dirfd: number, path: NativePath, flags: number, resolve: number, mask: number, xattrName: string, out: Uint8Array): number;
  /** close(2) now: 0 or -errno. */
  closeNow(fd: number): number;
  /** A close-on-exec pipe of `size` bytes (F_SETPIPE_SZ): [readFd, writeFd, capacity], or -errno. */
  pipeNow(size: number): [number, number, number] | number;
  /** fcntl(fd, F_SETFL, flags) now: 0 or -errno (the status flags: O_NONBLOCK, O_APPEND, ...). */
  fcntlSetflNow(fd: number, flags: number): number;
  /** fcntl(F_GETFL) now: the file status flags, or -errno. */
  fcntlGetflNow(fd: number): number;
  /** pwrite(2) of buffer[offset, offset + length) at `position`, now, until all is written: the
   *  bytes written, or -errno when none were. */
  pwriteNow(fd: number, buffer: Uint8Array, offset: number, length: number, position: Int64): number;
  /** unlinkat(2) now: 0 or -errno. */
  unlinkatNow(dirfd: number, name: NativePath, flags: number): number;
  /** flistxattr(2) now into `out`: the list's bytes (names, each NUL-terminated), or -errno (-ERANGE: `out` too small). */
  flistxattrNow(fd: number, out: Uint8Array): number;
  /**
   * AES-GCM/CCM over the buffers' own bytes with the OpenSSL inside this Node (native/src/aead.c):
   * seal encrypts them as one message and writes the 16-byte tag into `tag`; open decrypts them and
   * returns whether `tag` authenticates them. cipher: SMB's 1..4; CCM takes exactly one buffer.
   * Only when `aeadAvailable`.
   */
  aeadNow(seal: boolean, cipher: number, key: Uint8Array, iv: Uint8Array, aad: Uint8Array, buffers: Uint8Array[], tag: Uint8Array): boolean;
  /** Whether this Node exports the OpenSSL functions aeadNow needs. */
  readonly aeadAvailable: boolean;
  /** This thread's voluntary context switches so far (getrusage RUSAGE_THREAD): a syscall that
   *  waited adds one, a preemption does not. */
  sleepsNow(): number;
  /** fstatfs(2) now: the file system's magic number (f_type), or -errno. */
  fsTypeNow(fd: number): number;
  /** name_to_handle_at(fd, "", AT_EMPTY_PATH) now: the file's handle (its type as u32 LE, then its
   *  bytes), which names it across renames and restarts, or -errno (EOPNOTSUPP: none here). */
  nameToHandleNow(fd: number): Buffer | number;
  /** open_by_handle_at(mountFd, handle, flags | O_CLOEXEC) now: an fd of the file a handle of
   *  nameToHandleNow names, or -errno (ESTALE: gone; EPERM: no CAP_DAC_READ_SEARCH). */
  openByHandleNow(mountFd: number, handle: Uint8Array, flags: number): number;

  // Kerberos acceptor over MIT GSSAPI (native/src/gss.c; src/io/gss.ts is its user).
  // libgssapi_krb5.so.2 is opened on first use: gssAvailable() says whether it could be.
  /** null when libgssapi_krb5 loaded, else why not. */
  gssAvailable(): string | null;
  /**
   * gss_acquire_cred_from (the keytab; `principal` or '' for any key in it; `rcache` or '' for the
   * library's default replay cache) and gss_accept_sec_context of one krb5 token, then the SSPI
   * session key and the client's name, on the libuv threadpool (keytab and replay cache are file
   * I/O). Always resolves; major 0 is success, and only then are the other fields there.
   * Throws SMBTS_ERR_GSSAPI_UNAVAILABLE when the library is missing.
   */
  gssAccept(token: Uint8Array, keytab: string, principal: string, rcache: string): Promise<NativeGssAccept>;
  /** gss_get_mic over `message` with a context gssAccept returned (the SPNEGO mechListMIC). */
  gssGetMic(context: object, message: Uint8Array): Buffer;
  gssVerifyMic(context: object, message: Uint8Array, mic: Uint8Array): boolean;
  /** Deletes the context now (else when it is garbage collected). */
  gssRelease(context: object): void;

  // The shared record store (native/src/shmstore.c; src/locking/record-db.ts ShmRecordDb is its
  // user): synchronous, on this thread; a call that needs a record's lock waits for it at most
  // the handle's lock timeout, then throws SMBTS_ERR_STORE_BUSY. Errors carry `code`:
  // SMBTS_ERR_STORE_FULL (no room; the store stays usable), _BUSY, _LOCK (a lock held or missing
  // on this handle), _CLOSED, _FORMAT (not a store file of this build), _CORRUPT; a failed
  // syscall throws the errno Error.
  /**
   * Builds a store file of `sizeBytes` (rounded up to pages, all allocated now) with `chains`
   * hash chains (a power of two) beside `path`, renames it to `path` (replacing any file there;
   * processes still mapping that one keep it) and opens it.
   */
  storeCreate(path: string, sizeBytes: number, chains: number, lockTimeoutMs: number): StoreHandle;
  /** Opens a store file storeCreate made. */
  storeOpen(path: string, lockTimeoutMs: number): StoreHandle;
  /**
   * Locks `key`'s record (its hash chain) against every process, copies its value into `out`
   * when it fits and returns the value's length (-1: no record; longer than `out`: copy it with
   * storeValue). The handle holds the lock until storeWriteUnlock or storeUnlock; one lock per
   * handle at a time (a second storeLock throws SMBTS_ERR_STORE_LOCK).
   */
  storeLock(h: StoreHandle, key: string, out: Buffer): number;
  /** Copies the locked record's value into `out` (as long as storeLock said); its length. */
  storeValue(h: StoreHandle, out: Buffer): number;
  /** Stores `value` as the locked key's record (null deletes it) and unlocks, also when it throws. */
  storeWriteUnlock(h: StoreHandle, value: Buffer | null): void;
  /** Unlocks, writing nothing. */
  storeUnlock(h: StoreHandle): void;
  /**
   * storeLock's copy and length, the lock released at once (not taken when this handle holds
   * it); a value longer than `out` is not copied (call again with room).
   */
  storeRead(h: StoreHandle, key: string, out: Buffer): number;
  /** Every key, each chain read under its lock. */
  storeKeys(h: StoreHandle): string[];
  /** Sizes; bumpBytes (heap ever carved into blocks) stops growing while freed blocks are reused. */
  storeStats(h: StoreHandle): { sizeBytes: number, heapBytes: number, bumpBytes: number, chains: number };
  /** Unlocks a held lock (writing nothing) and unmaps; the file stays. */
  storeClose(h: StoreHandle): void;
}

/** An open shared store (native storeCreate/storeOpen): an opaque external. */
export interface StoreHandle { readonly __smbtsStoreHandle: never }

export interface SocketAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** errno -> [name, message], asked of libuv once per errno. */
const errnoText = new Map<number, [string, string]>()

/**
 * The Error of a failed syscall from its negative result (`res` = -errno): `code` (errno name),
 * `errno` (positive), `syscall`, as the threadpool ops reject with. No stack: the errors made this
 * way come from completion loops and synchronous calls on hot paths (an expected ENOENT or ENODATA
 * is on the path of many CREATEs), where capturing one costs more than the call.
 */
export function errnoError (res: number, syscall: string): NativeErrnoError {
  let t = errnoText.get(res)
  if (t === undefined) {
    try {
      t = [getSystemErrorName(res), getSystemErrorMessage(res)]
    } catch {
      t = [`E${-res}`, 'unknown error']
    }
    errnoText.set(res, t)
  }
  const [code, text] = t
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  const e = new Error(`${code}: ${text}, ${syscall}`) as NativeErrnoError
  Error.stackTraceLimit = limit
  e.code = code
  e.errno = -res
  e.syscall = syscall
  return e
}

export interface NativeGssAccept {
  major: number
  minor: number
  /** gss_display_status of both codes, with the call that failed; '' on success. */
  message: string
  /** The token to send back (the AP-REP), when there is one. */
  output?: Buffer
  principal?: string
  /** GSS_C_INQ_SSPI_SESSION_KEY: the key, all of it. */
  sessionKey?: Buffer
  /** The same call's second element: the DER content of the enctype's OID. */
  keyType?: Buffer
  /** Seconds the context (the ticket) is valid for. */
  lifetime?: number
  /** GSS ret_flags (GSS_C_MUTUAL_FLAG 2, ...). */
  flags?: number
  context?: object
}

/** True when `e` is a rejection from a failed syscall (has string code and numeric errno). */
export function isNativeErrnoError (e: unknown): e is NativeErrnoError {
  return e instanceof Error && typeof (e as NativeErrnoError).code === 'string' &&
    typeof (e as NativeErrnoError).errno === 'number' &&
    typeof (e as NativeErrnoError).syscall === 'string'
}

// Two levels below the repository root both from src/io (tsx/tap) and dist/io (compiled).
const ADDON_PATH = '../../native/build/Release/smbts.node'

function load (): { addon?: NativeAddon; error?: Error } {
  try {
    const require = createRequire(import.meta.url)
    return { addon: require(ADDON_PATH) as NativeAddon }
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e))
    return { error }
  }
}

const loaded = load()

export const nativeAvailable: boolean = loaded.addon !== undefined
export const nativeLoadError: Error | undefined = loaded.error

function unavailable (): NativeAddon {
  return new Proxy({} as NativeAddon, {
    get (_target, prop) {
      if (typeof prop === 'symbol' || prop === 'then') return undefined // not a thenable
      const err = new Error(
        `smbts native addon unavailable (${nativeLoadError?.message ?? 'not built'}); ` +
          `cannot use native.${prop}`,
        { cause: nativeLoadError }
      ) as Error & { code: string }
      err.code = 'SMBTS_ERR_NATIVE_UNAVAILABLE'
      throw err
    },
  })
}

export const native: NativeAddon = loaded.addon ?? unavailable()
