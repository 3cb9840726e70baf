// The io_uring fast path is really taken: smbclient put/get against a live server started with
// useUring moves the ring's recvMultishot (small frames)/recv (the rest of large WRITEs, straight into their buffer)/sendmsg/splice (READs
// spliced from the page cache to the socket)/write counters, and its openat2/statx/close counters with `inline metadata = no` (by default the share's
// opens, stats and closes are made on the server's thread: the inline counters move instead); with multishot recvs turned off every
// chunk is a plain recv; busy polling (on by default) opens windows that catch the next request; with useUring: false there is no
// ring at all and the server says it runs the fallback. Skips when io_uring cannot be set up here.
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { inProcessOnly, testWorkers, run, startLive, smbclient } from '../helpers/live.js'
import { ringSetupFlags, ringUnavailableReason, type RingCounters } from '../../src/io/ring.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const why = inProcessOnly('its ring counters') || await ringUnavailableReason()

async function putGet (t: Test, useUring: boolean, o: { shareLines?: string[], global?: string[], multishot?: boolean } = {}): Promise<{ before?: RingCounters, after?: RingCounters, logs: string[], io: unknown, inlineCalls: number }> {
  const live = await startLive({ useUring, shareLines: o.shareLines, global: o.global })
  if (live.server.ring !== undefined) live.server.ring.multishotRecv = o.multishot ?? true
  try {
    const data = randomBytes(3 * 1024 * 1024 + 5)
    writeFileSync(join(live.root, 'in.bin'), data)
    const before = live.server.ring?.counters()
    const r = await smbclient(live, `lcd ${live.root}; put in.bin f.bin; get f.bin out.bin`, { protocol: 'SMB3_11' })
    t.equal(r.code, 0, `smbclient exit 0\n${r.stdout}\n${r.stderr}`)
    t.equal(sha(readFileSync(join(live.root, 'out.bin'))), sha(data), 'round trip intact')
    t.equal(sha(readFileSync(join(live.share, 'f.bin'))), sha(data), 'server copy intact')
    const fs = await live.server.state.shares.get('share')?.fs
    return { before, after: live.server.ring?.counters(), logs: live.logs, io: live.server.io, inlineCalls: fs?.inline?.counters.calls ?? 0 }
  } finally {
    await live.stop()
  }
}

if (why !== undefined) {
  t.plan(0, testWorkers() > 1 ? why : `io_uring unavailable: ${why}`)
} else {
  t.test('useUring: true carries sockets and file data on the ring', async t => {
    // `inline metadata = no`: every open, stat and close goes to the ring too (the default makes
    // those a local file system answers from memory on the server's thread; see below).
    const { before, after, logs, io, inlineCalls } = await putGet(t, true, { shareLines: ['inline metadata = no'] })
    t.equal(inlineCalls, 0, 'no metadata call was made inline')
    t.match(io, { transport: 'io_uring', files: 'posix-uring' })
    t.ok(before !== undefined && after !== undefined, 'the server has a ring')
    // sockets (recv, and sendmsg: a reply's pieces leave in one op), file data (read/write), and the CREATE/CLOSE path (openat2, statx with
    // the DOS record's fgetxattr, close)
    for (const op of ['recvMultishot', 'recv', 'sendmsg', 'splice', 'write', 'openat2', 'statx', 'fgetxattr', 'close'] as const) {
      t.ok(after!.ops[op] > before!.ops[op], `ring ${op} ops moved (${before!.ops[op]} -> ${after!.ops[op]})`)
    }
    t.ok(after!.ops.accept >= 1 && after!.moreCqes > before!.moreCqes, 'the connection came from the ring\'s multishot accept')
    t.ok(after!.spliceChains > before!.spliceChains, 'READs went out as chains spliced from the page cache')
    t.ok(logs.some(l => /transport: io_uring/.test(l)), 'says it runs io_uring')
    t.ok((after!.setupFlags & ringSetupFlags().IORING_SETUP_DEFER_TASKRUN) !== 0 || logs.some(l => /DEFER_TASKRUN unavailable/.test(l)),
      'the ring defers its task work (DEFER_TASKRUN), or says why not')
  })

  t.test('by default a local file system\'s opens, stats and closes are made inline, data still on the ring', async t => {
    const { before, after, inlineCalls } = await putGet(t, true)
    t.ok(inlineCalls > 0, `metadata calls were made inline (${inlineCalls})`)
    for (const op of ['recv', 'sendmsg', 'splice', 'write'] as const) {
      t.ok(after!.ops[op] > before!.ops[op], `ring ${op} ops moved (${before!.ops[op]} -> ${after!.ops[op]})`)
    }
  })

  t.test('busy polling is on by default: requests that follow their replies are taken without a sleep; `busy poll = 0` turns it off', async t => {
    // smbtorture's ECHO loop: one connection, each request sent as soon as its reply is in.
    const echoes = async (global: string[]): Promise<{ before: RingCounters, after: RingCounters, logs: string[] }> => {
      const live = await startLive({ useUring: true, global })
      try {
        const before = live.server.ring!.counters()
        const r = await run('smbtorture', ['//127.0.0.1/share', '-p', String(live.port), '-U', `${live.user}%${live.password}`,
          'smb2.bench.echo', '--option=torture:timelimit=1', '--option=torture:nprocs=1'], { timeoutMs: 60_000 })
        t.match(r.stdout, /^success: echo/m, `smbtorture smb2.bench.echo\n${r.stdout.slice(-500)}`)
        return { before, after: live.server.ring!.counters(), logs: live.logs }
      } finally {
        await live.stop()
      }
    }
    const on = await echoes([])
    t.ok(on.logs.some(l => /busy poll: 100 µs/.test(l)), 'says it busy polls, and for how long')
    t.ok(on.after.busyPollWindows > on.before.busyPollWindows, `on by default: windows were opened (${on.after.busyPollWindows - on.before.busyPollWindows})`)
    // Whether a 100 µs window catches the next request depends on the client getting a core in
    // time, which tap's parallel test files on 2 cores often deny it: what windows catch is
    // measured with a window a busy machine still fits in (5 ms).
    const wide = await echoes(['busy poll = 5000'])
    const wakeups = wide.after.wakeups - wide.before.wakeups
    const hits = wide.after.busyPollHits - wide.before.busyPollHits
    // Each batch of completions handed to JS is one request here (one connection, one request in
    // flight). A request is taken without a sleep when a busy-poll window catches it (a hit), or
    // when it arrived while the previous one was still being answered: the same drain takes it
    // (the submit that follows the reply runs the ring's pending work), with no wake-up at all.
    // Which of the two it is depends on how fast this process answers; together they are most.
    const batches = wide.after.batches - wide.before.batches
    const withoutSleep = hits + (batches - wakeups)
    t.ok(withoutSleep > batches / 2, `most requests came while a window was open or the last one was being answered (${hits} hits, ${batches - wakeups} taken by the drain before it, of ${batches})`)
    const off = await echoes(['busy poll = 0'])
    t.ok(off.logs.some(l => /busy poll: off/.test(l)), 'says it is off')
    t.equal(off.after.busyPollWindows, 0, 'no window was opened')
    t.equal(off.after.busyPollHits, 0, 'every request woke a sleeping loop')
  })

  t.test('with multishot recvs turned off, every chunk is a plain recv', async t => {
    const { before, after } = await putGet(t, true, { multishot: false })
    t.equal(after!.ops.recvMultishot, before!.ops.recvMultishot, 'no multishot recv')
    t.ok(after!.ops.recv > before!.ops.recv, 'plain recvs')
  })

  t.test('useUring: false has no ring and says it runs the fallback', async t => {
    const { before, after, logs, io } = await putGet(t, false)
    t.equal(before, undefined, 'no ring')
    t.equal(after, undefined, 'no ring')
    t.match(io, { transport: 'node:net', files: 'posix', fallbackReason: /--no-uring/ })
    t.ok(logs.some(l => /fallback/.test(l) && /node:net/.test(l)), 'the fallback is logged with its reason')
  })
}
