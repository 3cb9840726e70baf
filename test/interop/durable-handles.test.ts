// Durable handles with a real client (impacket 0.10, SMB 3.0): an open made durable (batch
// oplock + DHnQ), written and locked, survives the loss of its TCP connection; a new connection
// reconnects to it with DHnC and finds the data and the lock (test/interop/py/durable_ops.py).
// smbtorture's smb2.durable-open / durable-v2-open suites (smbtorture-pass.txt) cover the rest.
import t from 'tap'
import { startLive, type LiveServer } from '../helpers/live.js'
import { pythonModuleMissing, runPy, type StepResult } from '../helpers/py.js'

const missing = pythonModuleMissing('impacket')
if (missing) {
  t.plan(0, `impacket not available: ${missing}`)
} else {
  let live: LiveServer
  t.before(async () => { live = await startLive() })
  t.teardown(async () => { await live.stop() })

  t.test('a durable open survives a cut TCP connection: reconnect, data, lock', async t => {
    const from = live.logs.length
    const { steps } = await runPy<{ steps: Record<string, StepResult> }>('durable_ops.py', [String(live.port), live.user, live.password, 'share'])
    for (const n of ['open_durable', 'write', 'cut_tcp', 'read_back', 'close', 'delete']) t.ok(steps[n]?.ok, `${n} succeeds`, { step: steps[n] })
    t.same(steps.lock, { ok: true, value: 'STATUS_SUCCESS' }, 'the range is locked')
    t.same(steps.reconnect, { ok: true, value: true }, 'DHnC gives the same FileId back')
    t.equal(steps.read_back?.value, true, 'what was written before the cut reads back')
    t.same(steps.unlock, { ok: true, value: 'STATUS_SUCCESS' }, 'the lock was still held by the open')
    t.same(steps.unlock_again, { ok: true, value: 'STATUS_RANGE_NOT_LOCKED' }, '...once')
    t.equal(steps.reconnect_unknown?.status, 'STATUS_OBJECT_NAME_NOT_FOUND', 'a DHnC naming no open')
    if (live.workers === 1) {
      // The in-process server's log lines (with workers the log is the CLI's: checked the same way).
      t.ok(await live.logged(/durable handle share\/durable\.txt .* kept for \d+ ms/, { from }), 'the disconnect is logged')
      t.ok(await live.logged(/durable handle share\/durable\.txt .* reconnected by/, { from }), 'the reconnect is logged')
    }
  })
}
