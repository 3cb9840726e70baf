// nameToHandleNow / openByHandleNow (native/src/fsnow.c): a file's kernel handle names it across
// a rename, and is stale once it is gone; what persistent handles find a renamed file by
// (src/vfs/posix.ts locate). open_by_handle_at needs CAP_DAC_READ_SEARCH: skipped without root.
import t from 'tap'
import { openSync, closeSync, readlinkSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { C, native, tempDir } from './fixtures/native.js'

const skip = process.getuid?.() !== 0 ? 'open_by_handle_at needs CAP_DAC_READ_SEARCH (root)' : false

t.test('a handle finds the file after a rename, and is stale once it is gone', { skip }, async (t) => {
  const dir = await tempDir(t)
  writeFileSync(join(dir, 'a'), 'x')
  const fd = openSync(join(dir, 'a'), 'r')
  const h = native.nameToHandleNow(fd)
  closeSync(fd)
  if (typeof h === 'number') { t.comment(`no handles on this file system: errno ${-h}`); return }
  t.ok(h.length > 4, 'a handle: its type, then its bytes')
  renameSync(join(dir, 'a'), join(dir, 'b'))
  const mount = openSync(dir, 'r')
  t.teardown(() => { closeSync(mount) })
  const found = native.openByHandleNow(mount, h, C.O_PATH)
  t.ok(found >= 0, 'opened by its handle')
  t.equal(readlinkSync(`/proc/self/fd/${found}`), join(dir, 'b'), 'the file, at its new name')
  native.closeNow(found)
  unlinkSync(join(dir, 'b'))
  t.equal(native.openByHandleNow(mount, h, C.O_PATH), -116, 'ESTALE once it is gone')
  t.throws(() => native.openByHandleNow(mount, Buffer.alloc(2), 0), { code: 'ERR_OUT_OF_RANGE' }, 'a handle too short to hold its type')
})
