// ECHOs through one in-memory connection of a started server, for test/unit/io/request-heap:
// the parent runs this under `node --trace-gc-nvp` and reads the young generation's survival from
// V8's lines after the marker this prints. No socket: what is measured is the request path's heap.
//   node <loader flags> --trace-gc-nvp test/helpers/request-churn.ts <share dir> <requests>
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startServer } from '../../src/server.js'
import { Smb2Connection } from '../../src/smb2/connection.js'
import { receivePdu } from '../../src/smb2/receive.js'
import { encodeHeader } from '../../src/wire/header.js'
import { negotiateBody } from './mem-client.js'

const [dir, count] = process.argv.slice(2)
const conf = join(dir, 'smb.conf')
writeFileSync(conf, `[global]\nnetbios name = CHURN\n[s]\npath = ${dir}\n`)
// Started as any server is (the heap tuning is start-up's), then served without a socket.
const server = await startServer({ configPath: conf, port: 0, host: '127.0.0.1', useUring: false, log: () => {} })
let replies = 0
const conn = new Smb2Connection(server.state, {
  remoteAddress: 'churn:1',
  send: (_chunks: Buffer[], onSent?: () => void) => { replies++; onSent?.() },
  // The server's close at the end closes it too; before that, a close is a failed request.
  close: (reason: string) => { if (replies < Number(count) + 1) throw new Error(`connection closed: ${reason}`) },
}, receivePdu)

let mid = 0n
function request (command: number, body: Buffer): Buffer {
  const pdu = Buffer.alloc(64 + body.length)
  encodeHeader({
    creditCharge: 1, status: 0, command, creditRequest: 32, flags: 0, nextCommand: 0,
    messageId: mid++, asyncId: 0n, treeId: 0, sessionId: 0n,
  }, pdu)
  body.copy(pdu, 64)
  return pdu
}
// MS-SMB2 2.2.3: NEGOTIATE with one dialect, 2.0.2; 2.2.28: ECHO.
await conn.handlePdu(request(0, negotiateBody({ dialects: [0x0202] })))
const echo = Buffer.from([4, 0, 0, 0])
process.stdout.write('CHURN START\n')
for (let i = 0; i < Number(count); i++) await conn.handlePdu(request(13, echo))
process.stdout.write(`CHURN END ${replies - 1}\n`)
await server.close()
