// The addon's GSSAPI acceptor (native/src/gss.c) without a KDC: a bad token or a missing keytab is
// a result, never a throw; bad arguments throw; and the accept runs off the event loop — with the
// keytab a FIFO nobody writes to, GSSAPI's read of it waits on a threadpool thread while timers
// keep firing here, and the accept settles once the FIFO is written. Skips without the addon or
// without libgssapi_krb5.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { constants, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { native, nativeAvailable } from '../../src/io/native.js'

const why = !nativeAvailable ? 'native addon not built' : native.gssAvailable()
if (why !== null) {
  t.plan(0, `GSSAPI unavailable: ${why}`)
} else {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-gss-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })

  t.test('a missing keytab or a bad token is a result with the reason', async t => {
    const r = await native.gssAccept(Buffer.from('6003060100', 'hex'), join(dir, 'none.keytab'), '', '')
    t.not(r.major, 0)
    t.match(r.message, /gss_acquire_cred_from: .*none\.keytab/)
    t.equal(r.context, undefined)
    t.equal(r.sessionKey, undefined)
  })

  t.test('bad arguments throw', async t => {
    t.throws(() => native.gssAccept('x' as unknown as Buffer, '', '', ''), { code: 'ERR_INVALID_ARG_TYPE' })
    t.throws(() => native.gssGetMic({}, Buffer.alloc(1)), { code: 'ERR_INVALID_ARG_TYPE' }, 'not a context')
    t.throws(() => native.gssVerifyMic({}, Buffer.alloc(1), Buffer.alloc(1)), { code: 'ERR_INVALID_ARG_TYPE' })
    t.doesNotThrow(() => { native.gssRelease({}) }, 'releasing a non-context does nothing')
  })

  t.test('the accept waits on the threadpool, not on the event loop', async t => {
    const fifo = join(dir, 'slow.keytab')
    execFileSync('mkfifo', [fifo])
    let ticks = 0
    const timer = setInterval(() => { ticks++ }, 5)
    let settled = false
    const pending = native.gssAccept(Buffer.from('6003060100', 'hex'), fifo, '', '').finally(() => { settled = true })
    await new Promise(resolve => setTimeout(resolve, 150))
    t.notOk(settled, 'still reading the keytab')
    t.ok(ticks >= 5, `timers fired meanwhile (${ticks})`)
    // Unblock the reader: open the write end and close it (EOF: an empty keytab), each time the
    // library opens it again, until the accept settles. O_NONBLOCK: ENXIO while nobody reads.
    const feeder = setInterval(() => {
      try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)) } catch { /* no reader at this moment */ }
    }, 5)
    const r = await pending
    clearInterval(feeder)
    clearInterval(timer)
    t.not(r.major, 0, 'an empty keytab: refused')
  })
}
