// The in-process benchmarks' common part (bench/open-inproc.ts, bench/delete-inproc.ts): a server
// on a share in DIR with one logged-in client, requests built as smbtorture and smbclient send them
// (unsigned, one credit each) and the time the server takes over one CREATE and its CLOSE.
import { mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { MemClient, memServer, closeBody, fileIdOf, parseResponses } from '../test/helpers/mem-client.js'
import { Command } from '../src/wire/constants.js'
import { encodeHeader } from '../src/wire/header.js'
import type { Backend } from '../src/vfs/backend.js'

export interface InProc {
  srv: ReturnType<typeof memServer>
  base: string
  /** ns the server spent on CREATE `createReq` and the CLOSE of what it opened. */
  createClose: (createReq: Buffer) => Promise<bigint>
}

export async function inProc (prefix: string, dir: string, backend: Backend | 'posix' = 'posix'): Promise<InProc> {
  const base = mkdtempSync(join(dir, prefix))
  process.env.TMPDIR = base
  const srv = memServer({ backend })
  const c = new MemClient(srv.state)
  await c.connect()
  let mid = c.nextMid
  const pdu = (command: number, body: Buffer): Buffer => {
    const p = Buffer.alloc(64 + body.length)
    encodeHeader({ creditCharge: 1, status: 0, command, creditRequest: 1, flags: 0, nextCommand: 0, messageId: mid++, asyncId: 0n, treeId: c.treeId, sessionId: c.sessionId }, p)
    body.copy(p, 64)
    return p
  }
  const createClose = async (createReq: Buffer): Promise<bigint> => {
    const cr = pdu(Command.CREATE, createReq)
    const t0 = process.hrtime.bigint()
    await c.conn.handlePdu(cr)
    const resp = parseResponses(c.sent[c.sent.length - 1])[0]
    if (resp.status !== 0) throw new Error(`CREATE: 0x${resp.status.toString(16)}`)
    const cl = pdu(Command.CLOSE, closeBody(fileIdOf(resp)))
    const t1 = process.hrtime.bigint()
    await c.conn.handlePdu(cl)
    const t = process.hrtime.bigint() - t1 + (t1 - t0)
    c.sent.length = 0
    return t
  }
  return { srv, base, createClose }
}
