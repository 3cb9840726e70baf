// SMB 3.1.1 POSIX extensions, hard links and reparse points against a live smbts over TCP (our
// own client, test/helpers/posix-client.ts: no packaged client speaks POSIX except the kernel's,
// test/guest case `posix`), on the io_uring fast path and on node:fs: the file system behind
// the real transports and backends gets the modes, links and objects the protocol tests check in
// memory.
import t from 'tap'
import { lstatSync, readlinkSync, statSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { startLive } from '../helpers/live.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { Access, Disposition, fileIdOf, namesOf, negotiateContexts, Opt, outputBuffer, renameInfo } from '../helpers/mem-client.js'
import { ccInfo, contextsOf, POSIX_CTX, POSIX_NAME, posixConnect, posixOpen } from '../helpers/posix-client.js'

const mkfifo = spawnSync('mkfifo', ['--help']).status === 0

function reparse (tag: number, data: Buffer): Buffer {
  const b = Buffer.alloc(8 + data.length)
  b.writeUInt32LE(tag >>> 0, 0); b.writeUInt16LE(data.length, 4); data.copy(b, 8)
  return b
}

for (const useUring of [true, false]) {
  t.test(`POSIX opens, links and reparse points over TCP (${useUring ? 'io_uring' : '--no-uring'})`, { skip: mkfifo ? false : 'no mkfifo' }, async (t) => {
    const live = await startLive({ useUring })
    t.teardown(() => live.stop())
    const { c, n } = await posixConnect(await TcpClient.open(live.port))
    t.teardown(() => { c.end() })
    t.ok(negotiateContexts(n).some(x => x.type === POSIX_CTX), 'POSIX extensions negotiated')
    const f = await posixOpen(c, 'p.txt', { mode: 0o640, disposition: Disposition.CREATE })
    t.equal(f.status, 0)
    t.equal(statSync(join(live.share, 'p.txt')).mode & 0o7777, 0o640, 'mode 0640 on disk')
    t.equal(ccInfo(contextsOf(f).get(POSIX_NAME)!, 0).mode, 0o640, 'and in the answer')
    const d = await posixOpen(c, 'D', { mode: 0o750, disposition: Disposition.CREATE, options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })
    t.equal(d.status, 0)
    t.equal(statSync(join(live.share, 'D')).mode & 0o7777, 0o750, 'directory mode 0750 on disk')
    t.equal((await c.setInfo(fileIdOf(f), 1, 11, renameInfo('D/hard.txt'))).status, 0, 'hard link through FileLinkInformation')
    t.equal(statSync(join(live.share, 'D/hard.txt')).ino, statSync(join(live.share, 'p.txt')).ino, 'one inode')
    const q = outputBuffer(await c.queryInfo(fileIdOf(f), 1, 100))
    t.equal(ccInfo(q, 68).nlinks, 2, 'FilePosixInformation: two links')
    const l = await c.queryDirectory(fileIdOf(d), '*', 0x64)
    t.equal(l.status, 0, 'SMB2_FIND_POSIX_INFORMATION')
    t.ok(namesOf(outputBuffer(l), 120, 124).includes('hard.txt'), 'lists hard.txt')
    // A FIFO and a symlink made through reparse points; a FIFO looked at through a POSIX open.
    const mk = async (name: string, buf: Buffer): Promise<number> => {
      const fid = await c.open(name, { access: Access.DELETE | Access.READ_ATTRIBUTES | 0x100, disposition: Disposition.CREATE, options: 0x00200000 })
      const r = await c.ioctl(0x000900a4, fid, buf)
      await c.close(fid)
      return r.status
    }
    const fifoType = Buffer.alloc(8); fifoType.writeBigUInt64LE(0x4F464946n, 0)
    t.equal(await mk('fifo', reparse(0x80000014, fifoType)), 0, 'NFS FIFO reparse point')
    t.ok(lstatSync(join(live.share, 'fifo')).isFIFO(), 'a FIFO on disk')
    const target = Buffer.from('p.txt', 'utf16le')
    const sl = Buffer.alloc(12 + 2 * target.length)
    sl.writeUInt16LE(target.length, 2); sl.writeUInt16LE(target.length, 4); sl.writeUInt16LE(target.length, 6); sl.writeUInt32LE(1, 8)
    target.copy(sl, 12); target.copy(sl, 12 + target.length)
    t.equal(await mk('sym', reparse(0xa000000c, sl)), 0, 'symlink reparse point')
    t.equal(readlinkSync(join(live.share, 'sym')), 'p.txt', 'a symlink on disk')
    const st = await posixOpen(c, 'fifo', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN })
    t.equal(st.status, 0, 'a POSIX open of the FIFO for its attributes')
    t.equal(ccInfo(contextsOf(st).get(POSIX_NAME)!, 0).tag, 0x80000014, 'IO_REPARSE_TAG_NFS')
  })
}
