// The records inotify(7) reads give (struct inotify_event, <sys/inotify.h>), decoded: a pure
// codec (native/src/inotify.c only moves the bytes), so it is in the fuzz suite.
//
//   0  i32  wd      the watch the event is for
//   4  u32  mask    IN_* bits
//   8  u32  cookie  pairs an IN_MOVED_FROM with its IN_MOVED_TO
//  12  u32  len     bytes of name that follow, NUL-padded (0: the event is about the directory itself)
//  16  ...  name

/** The kernel's IN_* bits (include/uapi/linux/inotify.h; part of the ABI, never renumbered). */
export const IN = {
  ACCESS: 0x001,
  MODIFY: 0x002,
  ATTRIB: 0x004,
  CLOSE_WRITE: 0x008,
  MOVED_FROM: 0x040,
  MOVED_TO: 0x080,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  UNMOUNT: 0x2000,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ONLYDIR: 0x01000000,
  DONT_FOLLOW: 0x02000000,
  EXCL_UNLINK: 0x04000000,
  ISDIR: 0x40000000,
} as const

export interface InotifyEvent {
  wd: number
  mask: number
  cookie: number
  /** '' for an event about the watched directory itself. */
  name: string
}

const HEADER = 16

/** Every whole record in `b`; a truncated last record is dropped (the kernel never writes one). */
export function decodeInotifyEvents (b: Buffer): InotifyEvent[] {
  const out: InotifyEvent[] = []
  let at = 0
  while (at + HEADER <= b.length) {
    const len = b.readUInt32LE(at + 12)
    if (len > b.length - at - HEADER) break
    const raw = b.subarray(at + HEADER, at + HEADER + len)
    const nul = raw.indexOf(0)
    out.push({
      wd: b.readInt32LE(at),
      mask: b.readUInt32LE(at + 4),
      cookie: b.readUInt32LE(at + 8),
      name: raw.toString('utf8', 0, nul < 0 ? raw.length : nul),
    })
    at += HEADER + len
  }
  return out
}

/** One record as the kernel writes it (tests and the fuzz suite build input with it). */
export function encodeInotifyEvent (e: InotifyEvent, pad = 0): Buffer {
  const name = Buffer.from(e.name, 'utf8')
  const len = e.name === '' ? 0 : name.length + 1 + pad
  const b = Buffer.alloc(HEADER + len)
  b.writeInt32LE(e.wd, 0)
  b.writeUInt32LE(e.mask >>> 0, 4)
  b.writeUInt32LE(e.cookie >>> 0, 8)
  b.writeUInt32LE(len, 12)
  name.copy(b, HEADER)
  return b
}
