// FIFOs, devices and sockets inside a share: a CREATE of one is refused at once with
// STATUS_IO_REPARSE_TAG_NOT_HANDLED (as Samba refuses it), never left waiting on a FIFO with no
// writer, whether the open would run on the server's thread or off it (`inline metadata = no`);
// a listing still shows them.
//
// Backend: posix. FIFOs and sockets exist only on a real file system.
import t from 'tap'
import { closeSync, openSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { Access, Disposition, fileIdOf, MemClient, memServer, namesOf, Opt, outputBuffer, Status, type Resp } from '../helpers/mem-client.js'

const IO_REPARSE_TAG_NOT_HANDLED = 0xc0000279
const mkfifo = spawnSync('mkfifo', ['--help']).status === 0

for (const inline of ['auto', 'no'] as const) {
  t.test(`CREATE of a FIFO or a socket is refused promptly (inline metadata ${inline})`, { skip: mkfifo ? false : 'no mkfifo' }, async (t) => {
    const srv = memServer({ shareLines: inline === 'no' ? ['inline metadata = no'] : [], log: true, backend: 'posix' })
    t.teardown(srv.cleanup)
    const fifo = join(srv.share, 'fifo')
    t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo')
    const sockSrv = createServer()
    await new Promise<void>((resolve) => sockSrv.listen(join(srv.share, 'sock'), resolve))
    t.teardown(() => new Promise<void>((resolve) => sockSrv.close(() => resolve())))
    writeFileSync(join(srv.share, 'plain.txt'), 'data')
    const c = await new MemClient(srv.state).connect()

    /** The CREATE's answer, or 'timeout' (a writer then frees the thread a blocked open holds). */
    const createPromptly = async (name: string, o: Parameters<MemClient['create']>[1]): Promise<Resp | 'timeout'> => {
      let timer: NodeJS.Timeout | undefined
      const p = c.create(name, o)
      const r = await Promise.race([p, new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), 3000) })])
      clearTimeout(timer)
      if (r === 'timeout') { closeSync(openSync(fifo, 'r+')); await p.catch(() => {}) }
      return r
    }

    for (const name of ['fifo', 'sock']) {
      const cases: Array<[string, Parameters<MemClient['create']>[1]]> = [
        ['read', { access: Access.GENERIC_READ, disposition: Disposition.OPEN }],
        ['read/write, OPEN_IF', { disposition: Disposition.OPEN_IF }],
        ['OVERWRITE_IF', { disposition: Disposition.OVERWRITE_IF }],
        ['attributes only', { access: Access.READ_ATTRIBUTES, disposition: Disposition.OPEN }],
        ['delete on close', { access: Access.DELETE, disposition: Disposition.OPEN, options: Opt.DELETE_ON_CLOSE }],
      ]
      for (const [what, o] of cases) {
        const r = await createPromptly(name, o)
        t.not(r, 'timeout', `${name}, ${what}: answered promptly`)
        if (r !== 'timeout') t.equal(r.status, IO_REPARSE_TAG_NOT_HANDLED, `${name}, ${what}: STATUS_IO_REPARSE_TAG_NOT_HANDLED`)
      }
      const r = await createPromptly(name, { disposition: Disposition.CREATE })
      t.ok(r !== 'timeout' && r.status === Status.OBJECT_NAME_COLLISION, `${name}: FILE_CREATE of the name collides`)
    }
    t.ok(srv.logs.some((l) => /refused to open share\/fifo: a FIFO/.test(l)), 'the refusal is logged')
    t.ok(srv.logs.some((l) => /refused to open share\/sock: a socket/.test(l)), 'the refusal is logged (socket)')

    // The rest of the share works as before, and the listing still shows the special files.
    const f = fileIdOf(await c.create('plain.txt', { access: Access.GENERIC_READ, disposition: Disposition.OPEN }))
    t.equal((await c.close(f)).status, 0)
    const dir = await c.open('', { options: Opt.DIRECTORY_FILE, access: Access.GENERIC_READ })
    const q = await c.queryDirectory(dir, '*', 12)
    t.equal(q.status, 0)
    const names = namesOf(outputBuffer(q))
    t.ok(names.includes('fifo') && names.includes('sock') && names.includes('plain.txt'), 'listed as before')
    await c.close(dir)
    t.equal(spawnSync('test', ['-p', fifo]).status, 0, 'the FIFO is still there')
  })
}
