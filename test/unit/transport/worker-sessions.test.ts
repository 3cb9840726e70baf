// src/transport/worker-sessions.ts: two servers in this process as workers 0 and 1, joined by
// their messengers. SessionIds name the worker that made them, and a client of worker 1 naming
// worker 0's session as its PreviousSessionId has it dropped there — the same user's only.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Messenger } from '../../../src/transport/messenger.js'
import { joinSessionPeers } from '../../../src/transport/worker-sessions.js'
import { sessionIdSlot } from '../../../src/session/server-state.js'
import { MemClient, memServer } from '../../helpers/mem-client.js'
import { until } from '../../helpers/until.js'

t.test('SessionIds name their worker; a PreviousSessionId of another worker is dropped there', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'smbts-wsess-'))
  t.teardown(() => { rmSync(runDir, { recursive: true, force: true }) })
  const servers = [memServer({ users: { other: 'Other-pass1' } }), memServer({ users: { other: 'Other-pass1' } })]
  for (const [slot, srv] of servers.entries()) {
    t.teardown(srv.cleanup)
    const messenger = await Messenger.listen({ runDir, slot })
    t.teardown(() => messenger.close())
    joinSessionPeers(srv.state, { slot, generation: 3, messenger })
  }
  const [w0, w1] = servers.map(s => s.state) as [typeof servers[0]['state'], typeof servers[0]['state']]

  const ids = new Set<bigint>()
  for (let i = 0; i < 1000; i++) ids.add(w0.newSessionId())
  t.equal(ids.size, 1000, 'no id handed out twice')
  t.ok([...ids].every(id => sessionIdSlot(id) === 0 && (id >> 32n & 0xffn) === 3n), 'each names slot 0 and generation 3')
  t.equal(sessionIdSlot(w1.newSessionId()), 1, 'worker 1\'s name slot 1')
  t.equal(sessionIdSlot(0x1234n), undefined, 'an id no process of ours made names no worker')

  const a = await new MemClient(w0).connect()
  t.equal(sessionIdSlot(a.sessionId), 0)
  // Another user on worker 1 names it: worker 0 keeps it.
  const b = new MemClient(w1)
  await b.negotiate({ dialects: [0x0311] })
  t.equal((await b.login({ user: 'other', password: 'Other-pass1', previousSessionId: a.sessionId })).last.status, 0)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.ok(w0.sessions.has(a.sessionId), 'another user\'s PreviousSessionId leaves it alone')
  // The same user on worker 1: gone from worker 0.
  const c = new MemClient(w1)
  await c.negotiate({ dialects: [0x0311] })
  t.equal((await c.login({ previousSessionId: a.sessionId })).last.status, 0, 'the same user logs on at worker 1')
  t.ok(await until(() => !w0.sessions.has(a.sessionId), 3000, 10), 'worker 0 dropped the old session')
  t.equal((await a.treeConnect('share')).status, 0xC0000203, 'and its client hears STATUS_USER_SESSION_DELETED')
  t.ok(w1.sessions.has(c.sessionId), 'the new session lives on worker 1')
})
