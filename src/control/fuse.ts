// A small FUSE file system spoken over /dev/fuse from JavaScript: one flat directory of files
// whose contents the server renders (debug, stats, ...) or streams (events, trace). No libfuse:
// the kernel protocol (linux/fuse.h) is read and written here; only mount(2) and umount2(2) are
// native (native/src/mount.c).
//
// Reading /dev/fuse blocks until the kernel has a request, so the read runs on the libuv
// threadpool (fs.read), one at a time; each request is then answered on the JS thread with a
// synchronous write, which never blocks (the kernel takes a reply at once). A request may be
// answered later (a stream READ waits for data; an OPEN waits for a rendering that asks the
// workers): FUSE matches replies by their `unique`. The server must never read its own mount from
// its event loop: the request would wait for the very thread that is blocked on it.
import { closeSync, openSync, read, readFileSync, statSync, writeSync, mkdirSync } from 'node:fs'
import { native } from '../io/native.js'

// linux/fuse.h opcodes (the ones answered here; any other gets ENOSYS).
const FUSE_LOOKUP = 1
const FUSE_FORGET = 2
const FUSE_GETATTR = 3
const FUSE_SETATTR = 4
const FUSE_OPEN = 14
const FUSE_READ = 15
const FUSE_WRITE = 16
const FUSE_STATFS = 17
const FUSE_RELEASE = 18
const FUSE_FSYNC = 20
const FUSE_FLUSH = 25
const FUSE_INIT = 26
const FUSE_OPENDIR = 27
const FUSE_READDIR = 28
const FUSE_RELEASEDIR = 29
const FUSE_ACCESS = 34
const FUSE_INTERRUPT = 36
const FUSE_DESTROY = 38
const FUSE_BATCH_FORGET = 42

/** The protocol version answered to INIT (the kernel speaks any later one down to it). */
const FUSE_KERNEL_VERSION = 7
const FUSE_KERNEL_MINOR_VERSION = 31
const FUSE_ROOT_ID = 1n
const IN_HEADER = 40
const OUT_HEADER = 16
/** Our largest WRITE; the read buffer must hold it plus headers and be at least FUSE_MIN_READ_BUFFER (8192). */
const MAX_WRITE = 4096
const READ_BUFFER = 64 * 1024 + 4096

const FOPEN_DIRECT_IO = 1 << 0
const FOPEN_NONSEEKABLE = 1 << 2
const FOPEN_STREAM = 1 << 4
const FATTR_MODE = 1 << 0
const FATTR_UID = 1 << 1
const FATTR_GID = 1 << 2
const FATTR_SIZE = 1 << 3

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const DT_DIR = 4
const DT_REG = 8
const O_ACCMODE = 3
const O_WRONLY = 1
const O_RDWR = 2

const MS_NOSUID = 2
const MS_NODEV = 4
const MS_NOEXEC = 8
const MNT_DETACH = 2

export const errno = {
  EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, EBADF: 9, EAGAIN: 11, EACCES: 13, EINVAL: 22, ENOSYS: 38,
} as const

/** Thrown by a file's write handler: the write fails with this errno. */
export class FuseError extends Error {
  constructor (readonly errno: number, message = `errno ${errno}`) { super(message) }
}

/** Who asks, as the kernel says in each request's header. */
export interface FuseCaller { uid: number, gid: number, pid: number }

/** A reader of a stream file: push lines to it; it is told when the reader closes the file. */
export interface StreamSink {
  push (chunk: string): void
}

export interface ControlFile {
  name: string
  /** Permission bits (the file is root's): 0o644 for a readable file root may write. */
  mode: number
  /** Rendered at each open for reading; the reader sees that snapshot. */
  read?: () => string | Promise<string>
  /** A write: its bytes as text. Throw FuseError for an errno. Only root reaches it. */
  write?: (text: string, caller: FuseCaller) => void | Promise<void>
  /** A stream: while open, whatever is pushed is read; returns what to do when it closes. */
  stream?: (sink: StreamSink) => () => void
  /** Called when a handle that wrote to the file is released (its writer's close() has returned). */
  released?: () => void
}

/** The size every file reports (sysfs does the same): tools that size their read first still read. */
const FILE_SIZE = 4096
/** What a stream reader may have waiting before newer chunks are dropped (and counted). */
const STREAM_BACKLOG_BYTES = 1024 * 1024

interface StreamState {
  queue: Buffer[]
  bytes: number
  lost: number
  pending?: { unique: bigint, size: number }
  close: () => void
}

interface Handle {
  file: ControlFile
  wrote?: boolean
  content?: Buffer
  stream?: StreamState
}

export interface FuseMountOptions {
  dir: string
  files: ControlFile[]
  /** Problems worth a log line (a request that failed, the connection ending). */
  log: (level: 'warn' | 'info', line: string) => void
  /** Lines lost by a slow stream reader, for the counters. */
  onStreamLoss?: (file: string, n: number) => void
  /** What a stream reader may have waiting before newer chunks are dropped (default 1 MiB). */
  streamBacklogBytes?: number
}

/** Whether a FUSE control mount can be made here, or why not. */
export function fuseUnavailableReason (): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (mounting needs CAP_SYS_ADMIN)'
  try { statSync('/dev/fuse') } catch { return 'no /dev/fuse' }
  try {
    if (!readFileSync('/proc/filesystems', 'utf8').split('\n').some(l => l.trim().endsWith('fuse'))) return 'the kernel has no fuse file system'
  } catch { /* not Linux's procfs: let the mount itself say */ }
  try {
    if (typeof native.mountFs !== 'function') return 'the native addon has no mount call (rebuild it)'
  } catch (e) { return (e as Error).message }
  return undefined
}

/** The mount of `dir` in /proc/self/mountinfo, with its file system type, if it is a mount point. */
function mountAt (dir: string): string | undefined {
  let text: string
  try { text = readFileSync('/proc/self/mountinfo', 'utf8') } catch { return undefined }
  for (const line of text.split('\n')) {
    const f = line.split(' ')
    const sep = f.indexOf('-')
    if (sep < 0) continue
    const point = f[4]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    if (point === dir) return f[sep + 1]
  }
  return undefined
}

/**
 * A control mount left by a server that died (kill -9): its directory answers ENOTCONN. It is
 * detached, so the next mount can take the place. A live mount of ours (another process?) is
 * detached too: the pid file already kept a second server out.
 */
export function detachStaleMount (dir: string, log: FuseMountOptions['log']): void {
  let stale = false
  try { statSync(dir) } catch (e) { stale = (e as NodeJS.ErrnoException).code === 'ENOTCONN' }
  const fstype = mountAt(dir)
  if (!stale && fstype !== 'fuse.smbts') return
  try {
    native.umount2(dir, MNT_DETACH)
    log('info', `control mount: detached ${stale ? 'the stale mount (ENOTCONN: its server died)' : 'an earlier control mount'} at ${dir}`)
  } catch (e) {
    log('warn', `control mount: could not detach the earlier mount at ${dir}: ${(e as Error).message}`)
  }
}

export class FuseMount {
  readonly dir: string
  private readonly fd: number
  private readonly files: ControlFile[]
  private readonly byName = new Map<string, number>()
  private readonly handles = new Map<bigint, Handle>()
  private nextFh = 1n
  private closed = false
  private readonly buf = Buffer.allocUnsafe(READ_BUFFER)
  private readonly started = Math.floor(Date.now() / 1000)
  private readonly log: FuseMountOptions['log']
  private readonly onStreamLoss: FuseMountOptions['onStreamLoss']
  private readonly backlog: number
  private exitHook = (): void => { this.unmountNow() }

  private constructor (opts: FuseMountOptions, fd: number) {
    this.dir = opts.dir
    this.fd = fd
    this.files = opts.files
    this.log = opts.log
    this.onStreamLoss = opts.onStreamLoss
    this.backlog = opts.streamBacklogBytes ?? STREAM_BACKLOG_BYTES
    opts.files.forEach((f, i) => this.byName.set(f.name, i))
  }

  /** Detaches a stale mount, makes the directory, mounts, and starts answering the kernel. */
  static mount (opts: FuseMountOptions): FuseMount {
    detachStaleMount(opts.dir, opts.log)
    mkdirSync(opts.dir, { recursive: true, mode: 0o755 })
    const fd = openSync('/dev/fuse', 'r+')
    try {
      native.mountFs('smbts', opts.dir, 'fuse.smbts', MS_NOSUID | MS_NODEV | MS_NOEXEC,
        `fd=${fd},rootmode=40000,user_id=0,group_id=0,allow_other`)
    } catch (e) {
      closeSync(fd)
      throw e
    }
    const m = new FuseMount(opts, fd)
    // Every exit path unmounts: a process.exit() skips close(), this hook does not.
    process.once('exit', m.exitHook)
    m.readNext()
    return m
  }

  /** Ends every stream reader, unmounts (detached: a reader still inside loses it) and closes the device. */
  close (): void {
    if (this.closed) return
    this.closed = true
    process.off('exit', this.exitHook)
    for (const h of this.handles.values()) {
      if (h.stream === undefined) continue
      h.stream.close()
      // a waiting reader sees the end of the file
      if (h.stream.pending !== undefined) this.reply(h.stream.pending.unique, 0, Buffer.alloc(0))
      h.stream.pending = undefined
    }
    this.handles.clear()
    this.unmountNow()
  }

  private unmountNow (): void {
    try { native.umount2(this.dir, MNT_DETACH) } catch { /* already gone */ }
    try { closeSync(this.fd) } catch { /* already closed */ }
  }

  private readNext (): void {
    if (this.closed) return
    read(this.fd, this.buf, 0, this.buf.length, null, (err, n) => {
      if (this.closed) return
      if (err !== null) {
        const code = err.code
        // ENOENT: a request interrupted before we read it; EINTR/EAGAIN: try again.
        if (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN') { this.readNext(); return }
        // ENODEV: unmounted (by an admin's umount, or the connection aborted).
        if (code !== 'ENODEV') this.log('warn', `control mount: reading /dev/fuse: ${err.message}`)
        else this.log('info', `control mount ${this.dir}: unmounted`)
        this.closed = true
        process.off('exit', this.exitHook)
        try { closeSync(this.fd) } catch { /* closed */ }
        return
      }
      try {
        this.handle(Buffer.from(this.buf.subarray(0, n)))
      } catch (e) {
        this.log('warn', `control mount: ${(e as Error).message}`)
      }
      this.readNext()
    })
  }

  private reply (unique: bigint, error: number, body?: Buffer): void {
    if (this.closed && error === 0 && body === undefined) return
    const len = OUT_HEADER + (error === 0 && body !== undefined ? body.length : 0)
    const out = Buffer.alloc(len)
    out.writeUInt32LE(len, 0)
    out.writeInt32LE(error === 0 ? 0 : -error, 4)
    out.writeBigUInt64LE(unique, 8)
    if (error === 0 && body !== undefined) body.copy(out, OUT_HEADER)
    try {
      writeSync(this.fd, out)
    } catch (e) {
      // ENOENT: the request was interrupted meanwhile; EBADF/ENODEV: we are gone.
      const code = (e as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'EBADF' && code !== 'ENODEV') this.log('warn', `control mount: reply: ${(e as Error).message}`)
    }
  }

  private attr (node: bigint, b: Buffer, at: number): void {
    const now = BigInt(this.started)
    const dir = node === FUSE_ROOT_ID
    const file = dir ? undefined : this.files[Number(node) - 2]
    b.writeBigUInt64LE(node, at) // ino
    b.writeBigUInt64LE(dir ? 0n : BigInt(FILE_SIZE), at + 8)
    b.writeBigUInt64LE(dir ? 0n : BigInt(FILE_SIZE / 512), at + 16)
    b.writeBigUInt64LE(now, at + 24)
    b.writeBigUInt64LE(now, at + 32)
    b.writeBigUInt64LE(now, at + 40)
    b.writeUInt32LE(dir ? S_IFDIR | 0o755 : S_IFREG | file!.mode, at + 60)
    b.writeUInt32LE(dir ? 2 : 1, at + 64) // nlink
    b.writeUInt32LE(0, at + 68) // uid
    b.writeUInt32LE(0, at + 72) // gid
    b.writeUInt32LE(FILE_SIZE, at + 80) // blksize
  }

  private attrOut (node: bigint): Buffer {
    const b = Buffer.alloc(16 + 88)
    this.attr(node, b, 16) // attr_valid 0: every stat asks
    return b
  }

  private fileOf (node: bigint): ControlFile | undefined {
    return node === FUSE_ROOT_ID ? undefined : this.files[Number(node) - 2]
  }

  private handle (req: Buffer): void {
    const opcode = req.readUInt32LE(4)
    const unique = req.readBigUInt64LE(8)
    const node = req.readBigUInt64LE(16)
    const caller: FuseCaller = { uid: req.readUInt32LE(24), gid: req.readUInt32LE(28), pid: req.readUInt32LE(32) }
    const body = req.subarray(IN_HEADER)
    const exists = node === FUSE_ROOT_ID || (node >= 2n && node < BigInt(this.files.length + 2))
    switch (opcode) {
      case FUSE_INIT: {
        const major = body.readUInt32LE(0)
        if (major < FUSE_KERNEL_VERSION) { this.reply(unique, errno.EIO); return }
        const out = Buffer.alloc(64)
        out.writeUInt32LE(FUSE_KERNEL_VERSION, 0)
        out.writeUInt32LE(FUSE_KERNEL_MINOR_VERSION, 4)
        out.writeUInt32LE(0, 8) // max_readahead: nothing is read ahead (direct I/O)
        out.writeUInt32LE(0, 12) // flags: none of the optional features
        out.writeUInt16LE(16, 16) // max_background
        out.writeUInt16LE(12, 18) // congestion_threshold
        out.writeUInt32LE(MAX_WRITE, 20)
        out.writeUInt32LE(1, 24) // time_gran
        this.reply(unique, 0, out)
        return
      }
      case FUSE_DESTROY:
        this.reply(unique, 0)
        return
      case FUSE_FORGET:
      case FUSE_BATCH_FORGET:
        return // no reply
      case FUSE_INTERRUPT: {
        const target = body.readBigUInt64LE(0)
        for (const h of this.handles.values()) {
          if (h.stream?.pending?.unique === target) {
            h.stream.pending = undefined
            this.reply(target, errno.EINTR)
          }
        }
        return
      }
      case FUSE_LOOKUP: {
        const name = body.toString('utf8', 0, body.indexOf(0) < 0 ? body.length : body.indexOf(0))
        const i = node === FUSE_ROOT_ID ? this.byName.get(name) : undefined
        if (i === undefined) { this.reply(unique, errno.ENOENT); return }
        const out = Buffer.alloc(40 + 88)
        const id = BigInt(i + 2)
        out.writeBigUInt64LE(id, 0) // nodeid
        out.writeBigUInt64LE(1n, 16) // entry_valid: 1 s
        this.attr(id, out, 40)
        this.reply(unique, 0, out)
        return
      }
      case FUSE_GETATTR:
        if (!exists) { this.reply(unique, errno.ENOENT); return }
        this.reply(unique, 0, this.attrOut(node))
        return
      case FUSE_SETATTR: {
        if (!exists) { this.reply(unique, errno.ENOENT); return }
        const valid = body.readUInt32LE(0)
        if ((valid & (FATTR_MODE | FATTR_UID | FATTR_GID)) !== 0) { this.reply(unique, errno.EPERM); return }
        // `echo x > file` truncates before it writes: a truncation is a write, allowed where one is.
        if ((valid & FATTR_SIZE) !== 0) {
          const f = this.fileOf(node)
          if (f?.write === undefined) { this.reply(unique, errno.EACCES); return }
          if (caller.uid !== 0) { this.reply(unique, errno.EACCES); return }
        }
        this.reply(unique, 0, this.attrOut(node))
        return
      }
      case FUSE_ACCESS: {
        const mask = body.readUInt32LE(0)
        const f = this.fileOf(node)
        if (f !== undefined && (mask & 2) !== 0 && (f.write === undefined || caller.uid !== 0)) { this.reply(unique, errno.EACCES); return }
        if (f !== undefined && (mask & 4) !== 0 && f.read === undefined && f.stream === undefined) { this.reply(unique, errno.EACCES); return }
        this.reply(unique, 0)
        return
      }
      case FUSE_OPEN:
        this.open(unique, node, body.readUInt32LE(0), caller)
        return
      case FUSE_READ:
        this.read(unique, body.readBigUInt64LE(0), Number(body.readBigUInt64LE(8)), body.readUInt32LE(16))
        return
      case FUSE_WRITE: {
        const fh = body.readBigUInt64LE(0)
        const size = body.readUInt32LE(16)
        this.write(unique, fh, body.subarray(40, 40 + size), caller)
        return
      }
      case FUSE_FLUSH:
      case FUSE_FSYNC:
      case FUSE_RELEASEDIR:
        this.reply(unique, 0)
        return
      case FUSE_RELEASE: {
        const fh = body.readBigUInt64LE(0)
        const h = this.handles.get(fh)
        this.handles.delete(fh)
        if (h?.stream !== undefined) {
          h.stream.close()
          if (h.stream.pending !== undefined) this.reply(h.stream.pending.unique, errno.EINTR)
        }
        this.reply(unique, 0)
        if (h?.wrote === true) h.file.released?.()
        return
      }
      case FUSE_OPENDIR: {
        if (node !== FUSE_ROOT_ID) { this.reply(unique, errno.ENOENT); return }
        const out = Buffer.alloc(16)
        this.reply(unique, 0, out)
        return
      }
      case FUSE_READDIR:
        this.readdir(unique, Number(body.readBigUInt64LE(8)), body.readUInt32LE(16))
        return
      case FUSE_STATFS: {
        const out = Buffer.alloc(80)
        out.writeBigUInt64LE(BigInt(this.files.length + 1), 24) // files
        out.writeUInt32LE(FILE_SIZE, 40) // bsize
        out.writeUInt32LE(255, 44) // namelen
        out.writeUInt32LE(FILE_SIZE, 48) // frsize
        this.reply(unique, 0, out)
        return
      }
      default:
        this.reply(unique, errno.ENOSYS)
    }
  }

  private open (unique: bigint, node: bigint, flags: number, caller: FuseCaller): void {
    const f = this.fileOf(node)
    if (f === undefined) { this.reply(unique, node === FUSE_ROOT_ID ? errno.EINVAL : errno.ENOENT); return }
    const acc = flags & O_ACCMODE
    const writing = acc === O_WRONLY || acc === O_RDWR
    const reading = acc !== O_WRONLY
    if (writing && (f.write === undefined || caller.uid !== 0)) { this.reply(unique, errno.EACCES); return }
    if (reading && f.read === undefined && f.stream === undefined) { this.reply(unique, errno.EACCES); return }
    const fh = this.nextFh++
    const h: Handle = { file: f }
    const out = Buffer.alloc(16)
    out.writeBigUInt64LE(fh, 0)
    if (reading && f.stream !== undefined) {
      const st: StreamState = { queue: [], bytes: 0, lost: 0, close: () => {} }
      h.stream = st
      this.handles.set(fh, h)
      st.close = f.stream({ push: (chunk) => { this.push(h, chunk) } })
      out.writeUInt32LE(FOPEN_DIRECT_IO | FOPEN_NONSEEKABLE | FOPEN_STREAM, 8)
      this.reply(unique, 0, out)
      return
    }
    out.writeUInt32LE(FOPEN_DIRECT_IO, 8)
    if (!reading || f.read === undefined) {
      this.handles.set(fh, h)
      this.reply(unique, 0, out)
      return
    }
    Promise.resolve().then(() => f.read!()).then((text) => {
      h.content = Buffer.from(text)
      this.handles.set(fh, h)
      this.reply(unique, 0, out)
    }, (e: unknown) => {
      this.log('warn', `control mount: rendering ${f.name}: ${(e as Error).message}`)
      this.reply(unique, errno.EIO)
    })
  }

  private read (unique: bigint, fh: bigint, offset: number, size: number): void {
    const h = this.handles.get(fh)
    if (h === undefined) { this.reply(unique, errno.EBADF); return }
    if (h.stream !== undefined) {
      if (h.stream.pending !== undefined) { this.reply(unique, errno.EAGAIN); return }
      h.stream.pending = { unique, size }
      this.deliver(h.stream)
      return
    }
    const c = h.content ?? Buffer.alloc(0)
    this.reply(unique, 0, c.subarray(Math.min(offset, c.length), Math.min(offset + size, c.length)))
  }

  private push (h: Handle, chunk: string): void {
    const st = h.stream
    if (st === undefined || this.closed) return
    const b = Buffer.from(chunk)
    if (st.bytes + b.length > this.backlog) {
      st.lost++
      this.onStreamLoss?.(h.file.name, 1)
      return
    }
    st.queue.push(b)
    st.bytes += b.length
    if (st.pending !== undefined) this.deliver(st)
  }

  /** Answers a waiting stream READ with what is queued (whole chunks, as many as fit). */
  private deliver (st: StreamState): void {
    const p = st.pending
    if (p === undefined) return
    if (st.lost > 0) {
      // said in the stream, where the reader sees the gap
      const note = Buffer.from(JSON.stringify({ type: 'lost', count: st.lost }) + '\n')
      st.queue.unshift(note)
      st.bytes += note.length
      st.lost = 0
    }
    if (st.queue.length === 0) return
    const parts: Buffer[] = []
    let len = 0
    while (st.queue.length > 0) {
      const b = st.queue[0]!
      if (len + b.length > p.size) {
        if (len === 0) {
          // one chunk larger than the read: its head now, the rest next time
          parts.push(b.subarray(0, p.size))
          st.queue[0] = b.subarray(p.size)
          st.bytes -= p.size
          len = p.size
        }
        break
      }
      parts.push(b)
      len += b.length
      st.bytes -= b.length
      st.queue.shift()
    }
    st.pending = undefined
    this.reply(p.unique, 0, Buffer.concat(parts, len))
  }

  private write (unique: bigint, fh: bigint, data: Buffer, caller: FuseCaller): void {
    const h = this.handles.get(fh)
    if (h === undefined) { this.reply(unique, errno.EBADF); return }
    if (h.file.write === undefined || caller.uid !== 0) { this.reply(unique, errno.EACCES); return }
    const out = Buffer.alloc(8)
    out.writeUInt32LE(data.length, 0)
    Promise.resolve().then(() => h.file.write!(data.toString('utf8'), caller)).then(() => {
      h.wrote = true
      this.reply(unique, 0, out)
    }, (e: unknown) => {
      if (e instanceof FuseError) this.reply(unique, e.errno)
      else {
        this.log('warn', `control mount: writing ${h.file.name}: ${(e as Error).message}`)
        this.reply(unique, errno.EIO)
      }
    })
  }

  private readdir (unique: bigint, offset: number, size: number): void {
    const entries: Array<[string, bigint, number]> = [['.', FUSE_ROOT_ID, DT_DIR], ['..', FUSE_ROOT_ID, DT_DIR],
      ...this.files.map((f, i): [string, bigint, number] => [f.name, BigInt(i + 2), DT_REG])]
    const parts: Buffer[] = []
    let len = 0
    for (let i = offset; i < entries.length; i++) {
      const [name, ino, type] = entries[i]!
      const n = Buffer.from(name)
      const reclen = (24 + n.length + 7) & ~7
      if (len + reclen > size) break
      const d = Buffer.alloc(reclen)
      d.writeBigUInt64LE(ino, 0)
      d.writeBigUInt64LE(BigInt(i + 1), 8) // the offset of the next entry
      d.writeUInt32LE(n.length, 16)
      d.writeUInt32LE(type, 20)
      n.copy(d, 24)
      parts.push(d)
      len += reclen
    }
    this.reply(unique, 0, Buffer.concat(parts, len))
  }
}
