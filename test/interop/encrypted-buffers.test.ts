// Encrypted WRITEs are decrypted over their own frame (aeadOpenInPlace): the frame, reassembled
// in a pooled buffer, then holds the plaintext, and goes back to the pool once its WRITE is done
// (a lone WRITE) like a plain one. Pipelined 1 MiB encrypted WRITEs of distinct data on a live
// server, both transports, AES-128-GCM and AES-128-CCM: the file holds exactly what was sent (a
// frame lent again while its WRITE still ran would leave another WRITE's bytes), the pool is
// reused; a tampered 1 MiB WRITE (a byte flipped past the first decrypted slice) ends the
// connection and writes nothing.
//
// READ data of an encrypted session is encrypted over its own pooled buffer and sent from it; the
// buffer goes back to the pool only once sent. Pipelined encrypted READs, some left unread in the
// send queue while more are read: every reply decrypts (its tag holds) to exactly its block.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { firstPassOnly, inProcessOnly, startLive } from '../helpers/live.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { badBlocks, writeRounds } from '../helpers/write-rounds.js'
import { chargeFor, Command, Ctx, Disposition, listContext, preauthContext, readBody, writeBody } from '../helpers/mem-client.js'
import { ringUnavailableReason } from '../../src/io/ring.js'
import { OPEN_SLICE } from '../../src/crypto/encryption.js'

const MiB = 1024 * 1024
const BLOCKS = 24
const data = randomBytes(BLOCKS * MiB)
const noRing = await ringUnavailableReason()
const inProcess = inProcessOnly('its read and frame buffer pools') || firstPassOnly('the buffer pools of each transport')

async function encryptedClient (port: number, cipher: number): Promise<TcpClient> {
  const c = await TcpClient.open(port)
  const n = await c.negotiate({ dialects: [0x0311], contexts: [preauthContext(), listContext(Ctx.ENCRYPTION, [cipher]), listContext(Ctx.SIGNING, [2, 1])] })
  if (n.status !== 0) throw new Error(`negotiate 0x${n.status.toString(16)}`)
  const l = await c.login()
  if (l.last.status !== 0) throw new Error(`login 0x${l.last.status.toString(16)}`)
  if (c.encryptor === undefined || !c.encryptAll) throw new Error('the session is not encrypted')
  const tc = await c.treeConnect('share')
  if (tc.status !== 0) throw new Error(`tree connect 0x${tc.status.toString(16)}`)
  return c
}

for (const useUring of [true, false]) {
  for (const [cipher, name] of [[2, 'AES-128-GCM'], [1, 'AES-128-CCM']] as const) {
    t.test(`pipelined 1 MiB ${name} WRITEs over ${useUring ? 'io_uring' : 'node:net'}: decrypted in their reused frames, the file exactly as sent`, { skip: inProcess || (useUring && noRing !== undefined ? noRing : false) }, async (t) => {
      const live = await startLive({ useUring, global: ['smb3 encryption = mandatory'] })
      t.teardown(async () => { await live.stop() })
      const c = await encryptedClient(live.port, cipher)
      t.teardown(() => { c.end() })
      const fid = await c.open('w.bin', { disposition: Disposition.OVERWRITE_IF })
      const pool = live.server.state.frameBuffers
      const reused0 = pool.reused
      t.equal(await writeRounds(c, fid, data, 17, 12), 0, 'every encrypted WRITE succeeded')
      await c.close(fid)
      t.equal(badBlocks(join(live.share, 'w.bin'), data), 0, 'every MiB on disk is the last one sent for it')
      t.ok(pool.reused - reused0 > BLOCKS, `encrypted WRITE frames were received into reused buffers (${pool.reused - reused0} reused, ${pool.allocated} allocated)`)

      // A tampered 1 MiB WRITE: the byte flipped lies past the first slices, which were already
      // decrypted over the frame when the tag fails. Nothing reaches the file.
      const v = await encryptedClient(live.port, cipher)
      t.teardown(() => { v.end() })
      const vfid = await v.open('w.bin', { disposition: Disposition.OPEN })
      const m = v.message({ cmd: Command.WRITE, body: writeBody(vfid, 0, Buffer.alloc(MiB, 0x5a)), creditCharge: chargeFor(MiB), creditRequest: 64 })
      const sealed = Buffer.concat(v.encryptor!.encrypt(v.sessionId, [m]))
      sealed[52 + 3 * OPEN_SLICE + 7] ^= 0x01
      v.writeRaw(Buffer.concat([Buffer.from([0, sealed.length >> 16, (sealed.length >> 8) & 0xff, sealed.length & 0xff]), sealed]))
      t.ok(await v.closedWithin(5000), 'the connection with the tampered WRITE is closed')
      t.ok(readFileSync(join(live.share, 'w.bin')).equals(data), 'and the file is unchanged')
      t.equal((await c.echo()).status, 0, 'the other connection goes on')
    })
  }
}

for (const useUring of [true, false]) {
  for (const [cipher, name] of [[2, 'AES-128-GCM'], [1, 'AES-128-CCM']] as const) {
    t.test(`pipelined 1 MiB ${name} READs over ${useUring ? 'io_uring' : 'node:net'}: encrypted in their pooled buffers, each reply its own block`, { skip: inProcess || (useUring && noRing !== undefined ? noRing : false) }, async (t) => {
      const live = await startLive({ useUring, global: ['smb3 encryption = mandatory'] })
      t.teardown(async () => { await live.stop() })
      writeFileSync(join(live.share, 'r.bin'), data)
      const c = await encryptedClient(live.port, cipher)
      t.teardown(() => { c.end() })
      const fid = await c.open('r.bin', { disposition: Disposition.OPEN, access: 0x80000000 })
      const pool = live.server.state.readBuffers
      const reused0 = pool.reused
      const order = Array.from({ length: BLOCKS }, (_, i) => (i * 17) % BLOCKS)
      const wrongOf = (replies: Array<{ status: number, body: Buffer } | undefined>, blocks: number[]): number => replies.filter((rep, k) => {
        if (rep === undefined || rep.status !== 0) return true
        const off = rep.body[2] - 64
        return !rep.body.subarray(off, off + rep.body.readUInt32LE(4)).equals(data.subarray(blocks[k] * MiB, (blocks[k] + 1) * MiB))
      }).length
      let wrong = 0
      for (let i = 0; i < BLOCKS; i += 8) {
        const idx = order.slice(i, i + 8)
        wrong += wrongOf(await Promise.all(c.pipeline(idx.map(b => ({ cmd: Command.READ, body: readBody(fid, b * MiB, MiB), creditCharge: chargeFor(MiB), creditRequest: 64 })))), idx)
      }
      t.equal(wrong, 0, `all ${BLOCKS} replies decrypt to exactly the block asked for`)
      // Replies left unread in the send queue while a second batch is read and encrypted: a buffer
      // lent again before its reply was sent would carry another READ's ciphertext (and fail its tag).
      c.pauseReading()
      const a = order.slice(0, 12)
      const b = order.slice(12, 24)
      const batchA = c.pipeline(a.map(x => ({ cmd: Command.READ, body: readBody(fid, x * MiB, MiB), creditCharge: chargeFor(MiB), creditRequest: 64 })))
      await new Promise(resolve => setTimeout(resolve, 500))
      const batchB = c.pipeline(b.map(x => ({ cmd: Command.READ, body: readBody(fid, x * MiB, MiB), creditCharge: chargeFor(MiB), creditRequest: 64 })))
      await new Promise(resolve => setTimeout(resolve, 500))
      c.resumeReading()
      t.equal(wrongOf(await Promise.all([...batchA, ...batchB]), [...a, ...b]), 0, 'replies that waited unread still decrypt to their own block')
      t.equal(c.undecryptable, 0, 'every encrypted reply authenticated')
      t.ok(pool.reused - reused0 >= BLOCKS, `READ buffers come from the pool (${pool.reused - reused0} reused, ${pool.allocated} allocated)`)
    })
  }
}
