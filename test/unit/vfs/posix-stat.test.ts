// statFromStatx (src/vfs/posix.ts): how the kernel's statx and the user.DOSATTRIB record combine
// into what the server reports. Pure: fixtures in, FileInfo out.
import t from 'tap'
import { statFromStatx } from '../../../src/vfs/posix.js'
import type { Statx } from '../../../src/io/native.js'
import type { DosRecord } from '../../../src/vfs/dos-xattr.js'
import { filetimeFromUnixNs } from '../../../src/wire/filetime.js'
import {
  FILE_ATTRIBUTE_ARCHIVE as ARCHIVE, FILE_ATTRIBUTE_DIRECTORY as DIRECTORY, FILE_ATTRIBUTE_HIDDEN as HIDDEN,
  FILE_ATTRIBUTE_NORMAL as NORMAL, FILE_ATTRIBUTE_READONLY as READONLY, FILE_ATTRIBUTE_REPARSE_POINT as REPARSE,
  FILE_ATTRIBUTE_SYSTEM as SYSTEM,
} from '../../../src/wire/fscc/constants.js'

const S = 1_000_000_000n
function sx (o: Partial<Statx> = {}): Statx {
  return {
    mask: 0xfff, blksize: 4096, attributes: 0, attributesMask: 0, nlink: 1, uid: 0, gid: 0,
    mode: 0o100644, ino: 42n, size: 3n, blocks: 8n,
    atimeNs: 1_700_000_400n * S, btimeNs: 1_700_000_000n * S, ctimeNs: 1_700_000_300n * S, mtimeNs: 1_700_000_200n * S,
    dev: 0n, rdev: 0n, mntId: 0n, ...o,
  }
}
const rec = (o: Partial<DosRecord> = {}): DosRecord => ({ fileAttributes: 0, writeAnchorNs: 1_700_000_200n * S, ...o })

t.test('no record: what Linux has (ARCHIVE files, HIDDEN dot files, birth time, ctime)', async (t) => {
  const st = statFromStatx(sx(), 'a.txt')
  t.equal(st.fileAttributes, ARCHIVE)
  t.equal(st.creationTime, filetimeFromUnixNs(1_700_000_000n * S), 'CreationTime = btime')
  t.equal(st.changeTime, filetimeFromUnixNs(1_700_000_300n * S), 'ChangeTime = ctime')
  t.equal(statFromStatx(sx(), '.profile').fileAttributes, ARCHIVE | HIDDEN, 'dot file')
  t.equal(statFromStatx(sx({ mode: 0o40755 }), 'd').fileAttributes, DIRECTORY)
  t.equal(statFromStatx(sx({ mode: 0o100444 }), 'ro').fileAttributes, ARCHIVE | READONLY, 'no write bits: READONLY')
  t.equal(statFromStatx(sx({ mode: 0o40555 }), 'd').fileAttributes, DIRECTORY, 'a directory\'s mode never makes it READONLY')
  t.equal(statFromStatx(sx({ mode: 0o120777 }), 'l').fileAttributes & REPARSE, REPARSE, 'a symlink is a reparse point')
  t.equal(statFromStatx(sx({ btimeNs: 0n }), 'a').creationTime, filetimeFromUnixNs(1_700_000_200n * S),
    'no btime: the older of ctime and mtime')
})

t.test('a record: its attributes, its CreationTime, its ChangeTime while the mtime is the anchor', async (t) => {
  const r = rec({ fileAttributes: HIDDEN | SYSTEM, creationTime: 5n, changeTime: 7n })
  const st = statFromStatx(sx(), 'a.txt', r)
  t.same([st.fileAttributes, st.creationTime, st.changeTime], [HIDDEN | SYSTEM, 5n, 7n])
  t.equal(st.lastWriteTime, filetimeFromUnixNs(1_700_000_200n * S), 'LastWriteTime is the mtime')
  t.equal(statFromStatx(sx(), 'a.txt', rec()).fileAttributes, NORMAL, 'nothing set: NORMAL')
  t.equal(statFromStatx(sx(), '.dot', rec()).fileAttributes, HIDDEN, 'hide dot files (the default): a dot file is HIDDEN whatever the record says')
  t.equal(statFromStatx(sx(), '.dot', rec(), false).fileAttributes, NORMAL, 'hide dot files = no: the record decides')
  t.equal(statFromStatx(sx(), '.dot', undefined, false).fileAttributes, ARCHIVE, 'hide dot files = no, no record: not hidden')
  const moved = statFromStatx(sx({ mtimeNs: 1_700_000_900n * S }), 'a.txt', r)
  t.equal(moved.changeTime, filetimeFromUnixNs(1_700_000_300n * S), 'data changed since: ChangeTime is the ctime again')
  t.equal(moved.fileAttributes, HIDDEN | SYSTEM | ARCHIVE, 'and the file is ARCHIVE (modified)')
  t.equal(moved.creationTime, 5n, 'CreationTime does not depend on the anchor')
})

t.test('READONLY: a file\'s from its mode (a stored bit is ignored), a directory\'s from the record', async (t) => {
  t.equal(statFromStatx(sx(), 'f', rec({ fileAttributes: READONLY })).fileAttributes, NORMAL, 'file, writable mode')
  t.equal(statFromStatx(sx({ mode: 0o100444 }), 'f', rec()).fileAttributes, READONLY, 'file, no write bits')
  t.equal(statFromStatx(sx({ mode: 0o40755 }), 'd', rec({ fileAttributes: READONLY | HIDDEN })).fileAttributes,
    DIRECTORY | READONLY | HIDDEN, 'directory')
  t.equal(statFromStatx(sx({ mode: 0o40755, mtimeNs: 1n }), 'd', rec()).fileAttributes, DIRECTORY,
    'a directory\'s changed contents do not make it ARCHIVE')
})

t.test('another server\'s record (Samba, ksmbd): attributes as stored, READONLY included, no anchor', async (t) => {
  const foreign: DosRecord = { fileAttributes: READONLY | HIDDEN | ARCHIVE, creationTime: 5n, origin: 'foreign' }
  const st = statFromStatx(sx(), 'f', foreign)
  t.equal(st.fileAttributes, READONLY | HIDDEN | ARCHIVE, 'a file\'s READONLY from Samba\'s record, mode writable')
  t.equal(st.creationTime, 5n)
  t.equal(st.changeTime, filetimeFromUnixNs(1_700_000_300n * S), 'ChangeTime: the ctime')
  t.equal(statFromStatx(sx({ mtimeNs: 1n }), 'f', { fileAttributes: HIDDEN, origin: 'foreign' }).fileAttributes, HIDDEN,
    'no anchor: ARCHIVE is what the record says, not derived')
  t.equal(statFromStatx(sx(), 'f', { fileAttributes: 0, changeTime: 9n, origin: 'foreign' }).changeTime,
    filetimeFromUnixNs(1_700_000_300n * S), 'a ChangeTime without an anchor does not hold')
})
