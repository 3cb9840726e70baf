// Pipelined 1 MiB WRITEs that catch a frame buffer lent again too early: every block written,
// then written again inverted, then restored; a frame overwritten by a later one while its
// WRITE still ran leaves another block's (or inverted) bytes on disk. Shared by the plain and
// the encrypted frame-pool tests.
import { readFileSync } from 'node:fs'
import type { TcpClient } from './tcp-client.js'
import { chargeFor, Command, writeBody, type FileId } from './mem-client.js'

const MiB = 1024 * 1024

/**
 * Writes `data` (whole MiB blocks) to `fid` three times over in the order `i * stride % blocks`,
 * 8 then `restoreDepth` requests in flight; resolves with the number of WRITEs that failed.
 */
export async function writeRounds (c: TcpClient, fid: FileId, data: Buffer, stride: number, restoreDepth: number): Promise<number> {
  const blocks = data.length / MiB
  const block = (b: number): Buffer => data.subarray(b * MiB, (b + 1) * MiB)
  const order = Array.from({ length: blocks }, (_, i) => (i * stride) % blocks)
  const batch = async (idx: number[], payload: (b: number) => Buffer): Promise<number> => {
    const replies = await Promise.all(c.pipeline(idx.map(b => ({ cmd: Command.WRITE, body: writeBody(fid, b * MiB, payload(b)), creditCharge: chargeFor(MiB), creditRequest: 64 }))))
    return replies.filter(x => x === undefined || x.status !== 0).length
  }
  let failed = 0
  for (const inverted of [false, true]) {
    for (let i = 0; i < blocks; i += 8) {
      failed += await batch(order.slice(i, i + 8), b => inverted ? Buffer.from(block(b).map(x => x ^ 0xff)) : block(b))
    }
  }
  for (let i = 0; i < blocks; i += restoreDepth) failed += await batch(order.slice(i, i + restoreDepth), block)
  return failed
}

/** How many MiB blocks of the file at `path` differ from `data` (-1: not the same length). */
export function badBlocks (path: string, data: Buffer): number {
  const onDisk = readFileSync(path)
  if (onDisk.length !== data.length) return -1
  let bad = 0
  for (let b = 0; b < data.length / MiB; b++) if (!onDisk.subarray(b * MiB, (b + 1) * MiB).equals(data.subarray(b * MiB, (b + 1) * MiB))) bad++
  return bad
}
