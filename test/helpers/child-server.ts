// A server in a child process, for tests that must kill -9 it (test/interop/durability). Runs the
// TypeScript sources through the test loader; prints "PORT <n> PID <pid>" once it listens
// (the pid is the server's own, even when the child runs under strace).
//   node <loader flags> test/helpers/child-server.ts <smb.conf> <pwddb> [uring|net]
// (without the last argument: the transport SMBTS_TEST_TRANSPORT picks, as for live servers)
import { startServer } from '../../src/server.js'
import { testUsesUring } from './live.js'

const [configPath, pwddbPath, uring] = process.argv.slice(2)
const s = await startServer({
  configPath, pwddbPath, port: 0, host: '127.0.0.1', useUring: uring === undefined ? testUsesUring() : uring === 'uring',
  log: (l) => { process.stderr.write(l + '\n') },
  debug: [],
})
process.stdout.write(`PORT ${s.port} PID ${process.pid}\n`)
