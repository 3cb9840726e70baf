// A Messenger in a process of its own, for test/unit/transport/messenger.test.ts: it answers a
// `ping` with a `pong` to whoever sent it, and `say` makes it send a message of its own.
//   node <loader flags> test/helpers/messenger-peer.ts <runDir> <slot>
// Prints "READY <pid>" once it listens.
import { Messenger } from '../../src/transport/messenger.js'

const [runDir, slot] = process.argv.slice(2)
const m = await Messenger.listen({ runDir: runDir!, slot: Number(slot) })
m.on('ping', (msg, from) => { m.send(from, { type: 'pong', n: msg.n, pid: process.pid, from: m.slot }) })
m.on('say', (msg) => { m.send(msg.to as number, { type: 'hello', text: msg.text }) })
process.stdout.write(`READY ${process.pid}\n`)
