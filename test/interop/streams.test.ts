// Alternate data streams through real clients, over the io_uring fast path and the node:net/node:fs
// fallback: smbclient writes a stream, `allinfo` lists it with its size, `get` reads it back, and
// the bytes on disk are Samba's streams_xattr layout (user.DosStream.<name>:$DATA = data + NUL);
// a stream past what one xattr can hold is refused with Samba's status; a share with
// `streams = no` refuses stream names. impacket writes, reads, lists (FileStreamInformation),
// renames and deletes a stream.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startLive, smbclient, type LiveServer } from '../helpers/live.js'
import { pythonModuleMissing, runPy, type StepResult } from '../helpers/py.js'
import { native, nativeAvailable } from '../../src/io/native.js'
import { STREAM_MAX_SIZE } from '../../src/vfs/streams.js'

/** One xattr of a file on disk, read beside the server (not through it). */
async function xattrOnDisk (path: string, name: string): Promise<Buffer | undefined> {
  const fd = openSync(path, 'r')
  try {
    return await native.fgetxattr(fd, name)
  } catch {
    return undefined
  } finally { closeSync(fd) }
}

for (const useUring of [true, false]) {
  t.test(useUring ? 'over io_uring' : 'over node:net + node:fs (--no-uring)', async t => {
    let live: LiveServer
    t.before(async () => {
      live = await startLive({ useUring, shares: { nostreams: ['read only = no', 'streams = no'] } })
    })
    t.teardown(async () => { await live.stop() })

    t.test('smbclient: put a stream, allinfo lists it, get reads it back', async t => {
      const payload = randomBytes(1000)
      writeFileSync(join(live.root, 'base.txt'), 'base data')
      writeFileSync(join(live.root, 'payload.bin'), payload)
      const r = await smbclient(live, `lcd ${live.root}; put base.txt f.txt; put payload.bin f.txt:meta; allinfo f.txt; get f.txt:meta:$DATA back.bin`, { protocol: 'SMB3_11' })
      t.equal(r.code, 0, r.stdout + r.stderr)
      t.match(r.stdout, /stream: \[::\$DATA\], 9 bytes/, 'allinfo: the unnamed stream')
      t.match(r.stdout, /stream: \[:meta:\$DATA\], 1000 bytes/, 'allinfo: the named stream and its size')
      t.same(readFileSync(join(live.root, 'back.bin')), payload, 'read back intact')
      t.equal(readFileSync(join(live.share, 'f.txt'), 'utf8'), 'base data', 'the file\'s own data is untouched')
      if (nativeAvailable) {
        t.same(await xattrOnDisk(join(live.share, 'f.txt'), 'user.DosStream.meta:$DATA'), Buffer.concat([payload, Buffer.from([0])]),
          'on disk as Samba\'s streams_xattr keeps it')
      }
    })

    t.test('a stream larger than an xattr can hold: STATUS_FILE_SYSTEM_LIMITATION, as Samba', async t => {
      writeFileSync(join(live.root, 'huge.bin'), randomBytes(STREAM_MAX_SIZE + 100))
      const r = await smbclient(live, `lcd ${live.root}; put base.txt h.txt; put huge.bin h.txt:huge`, { protocol: 'SMB3_11' })
      t.match(r.stdout + r.stderr, /NT_STATUS_FILE_SYSTEM_LIMITATION/, r.stdout + r.stderr)
    })

    t.test('a share with streams = no refuses stream names', async t => {
      const r = await smbclient(live, `lcd ${live.root}; put base.txt n.txt; put payload.bin n.txt:meta`, { share: 'nostreams', protocol: 'SMB3_11' })
      t.match(r.stdout + r.stderr, /NT_STATUS_OBJECT_NAME_INVALID/, r.stdout + r.stderr)
    })

    const missing = pythonModuleMissing('impacket')
    t.test('impacket: write, read, list, rename and delete a stream', { skip: missing ?? false }, async t => {
      const data = randomBytes(300)
      const { steps } = await runPy<{ steps: Record<string, StepResult> }>('impacket_streams.py', [
        String(live.port), '3.0', live.user, live.password, 'share', 'imp.txt', data.toString('hex'),
      ])
      for (const s of ['create', 'write', 'read', 'list', 'rename', 'delete']) t.ok(steps[s]?.ok, `${s}: ${JSON.stringify(steps[s])}`)
      t.equal(steps.read?.value, data.toString('hex'), 'read back intact')
      t.same(steps.list?.value, [['::$DATA', 4], [':meta:$DATA', 300]], 'FileStreamInformation: the unnamed stream first')
      t.same(steps.rename?.value, [['::$DATA', 4], [':renamed:$DATA', 300]], 'renamed, its data kept')
      t.same(steps.delete?.value, [['::$DATA', 4]], 'deleted on close')
      t.equal(steps['open-deleted']?.status, 'STATUS_OBJECT_NAME_NOT_FOUND')
      t.equal(steps['bad-type']?.status, 'STATUS_OBJECT_NAME_INVALID', 'a stream type other than $DATA (Windows; Samba says INVALID_PARAMETER)')
    })
  })
}
