// READ data is read into pooled buffers and sent from them; a buffer returns to the pool only
// once the transport has handed all of it to the kernel. Pipelined READs of distinct data on a
// live server, on the io_uring transport and on the fallback: every reply holds exactly its own
// bytes (a buffer reused too early would carry another READ's data), and the pool is reused.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { firstPassOnly, inProcessOnly, startLive } from '../helpers/live.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { badBlocks, writeRounds } from '../helpers/write-rounds.js'
import { chargeFor, Command, Disposition, readBody } from '../helpers/mem-client.js'
import { ringUnavailableReason } from '../../src/io/ring.js'

const MiB = 1024 * 1024
const BLOCKS = 48
const data = randomBytes(BLOCKS * MiB)
const noRing = await ringUnavailableReason()
const inProcess = inProcessOnly('its read and frame buffer pools') || firstPassOnly('the buffer pools of each transport')

for (const useUring of [true, false]) {
  t.test(`pipelined 1 MiB READs over ${useUring ? 'io_uring' : 'node:net'}: each reply its own bytes, buffers reused`, { skip: inProcess || (useUring && noRing !== undefined ? noRing : false) }, async (t) => {
    const live = await startLive({ useUring })
    t.teardown(async () => { await live.stop() })
    writeFileSync(join(live.share, 'r.bin'), data)
    const c = await TcpClient.open(live.port)
    t.teardown(() => { c.end() })
    await c.connect({ dialect: 0x0311 })
    const fid = await c.open('r.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
    const pool = live.server.state.readBuffers
    const reused0 = pool.reused
    let bad = 0
    // Rounds of 8 READs in flight at once, in a shuffled order of blocks.
    const order = Array.from({ length: BLOCKS }, (_, i) => (i * 29) % BLOCKS)
    for (let r = 0; r < 3; r++) {
      for (let i = 0; i < BLOCKS; i += 8) {
        const idx = order.slice(i, i + 8)
        const replies = await Promise.all(c.pipeline(idx.map(b => ({ cmd: Command.READ, body: readBody(fid, b * MiB, MiB), creditCharge: chargeFor(MiB), creditRequest: 64 }))))
        replies.forEach((rep, k) => {
          if (rep === undefined || rep.status !== 0) { bad++; return }
          const off = rep.body[2] - 64
          const got = rep.body.subarray(off, off + rep.body.readUInt32LE(4))
          if (!got.equals(data.subarray(idx[k] * MiB, (idx[k] + 1) * MiB))) bad++
        })
      }
    }
    t.equal(bad, 0, `all ${3 * BLOCKS} replies carry exactly the block asked for`)

    // A client that stops reading: the first batch's replies sit in the send queue (and in the
    // socket) while a second batch is read from the file. Buffers still queued must not be lent
    // to the second batch, or the first batch's replies would carry its bytes.
    c.pauseReading()
    const batchA = c.pipeline(order.slice(0, 16).map(b => ({ cmd: Command.READ, body: readBody(fid, b * MiB, MiB), creditCharge: chargeFor(MiB), creditRequest: 64 })))
    await new Promise(resolve => setTimeout(resolve, 500))
    const batchB = c.pipeline(order.slice(16, 32).map(b => ({ cmd: Command.READ, body: readBody(fid, b * MiB, MiB), creditCharge: chargeFor(MiB), creditRequest: 64 })))
    await new Promise(resolve => setTimeout(resolve, 500))
    c.resumeReading()
    const all = await Promise.all([...batchA, ...batchB])
    const wrong = all.filter((rep, k) => {
      if (rep === undefined || rep.status !== 0) return true
      const off = rep.body[2] - 64
      return !rep.body.subarray(off, off + rep.body.readUInt32LE(4)).equals(data.subarray(order[k] * MiB, (order[k] + 1) * MiB))
    }).length
    t.equal(wrong, 0, 'replies that waited unread in the send queue still carry their own bytes')
    t.ok(pool.reused - reused0 >= 3 * BLOCKS - 16, `READ buffers come from the pool (${pool.reused - reused0} reused, ${pool.allocated} allocated in all)`)
    t.ok(pool.retained <= pool.maxRetained, 'the pool keeps no more than its cap')
  })
}

// WRITE frames larger than one receive are reassembled in pooled buffers, lent again once the
// WRITE is done with them (its data on the file). Pipelined WRITEs of distinct data: the file
// holds exactly what was sent (a buffer reused while its WRITE still ran would leave another
// WRITE's bytes), and the pool is reused.
for (const useUring of [true, false]) {
  t.test(`pipelined 1 MiB WRITEs over ${useUring ? 'io_uring' : 'node:net'}: frames in reused buffers, the file exactly as sent`, { skip: inProcess || (useUring && noRing !== undefined ? noRing : false) }, async (t) => {
    const live = await startLive({ useUring })
    t.teardown(async () => { await live.stop() })
    const c = await TcpClient.open(live.port)
    t.teardown(() => { c.end() })
    await c.connect({ dialect: 0x0311 })
    const fid = await c.open('w.bin', { disposition: Disposition.OVERWRITE_IF })
    const pool = live.server.state.frameBuffers
    const reused0 = pool.reused
    t.equal(await writeRounds(c, fid, data, 29, 16), 0, 'every WRITE succeeded')
    await c.close(fid)
    t.equal(badBlocks(join(live.share, 'w.bin'), data), 0, 'every MiB on disk is the last one sent for it')
    t.ok(pool.reused - reused0 > BLOCKS, `WRITE frames were received into reused buffers (${pool.reused - reused0} reused, ${pool.allocated} allocated)`)
  })
}
