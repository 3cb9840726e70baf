// Room for a new connection across workers (issue 20). `max connections` counts every worker's
// connections together (the locking store's `c:connections`), so a worker can be at the limit
// holding nothing it may drop — a flood from one address, steered to another worker, fills the
// server — and a real client steered here would be refused. At the limit, a worker with no
// unauthenticated connection of its own to drop (ConnectionLimits) asks the others, one at a
// time: the first that has one drops its own idle longest (of the new connection's address when
// that address is at its `max ip connections`: without the steering program one address's
// connections spread over the workers) and moves that connection's slots in the store to the
// asker (LockingStore.moveCount: the total never dips, so no other admission takes them), then
// answers; the asker admits its connection in those slots. The new connection waits for the
// answers unread, at most ASK_TIMEOUT_MS per worker.
import type { ServerState } from '../session/server-state.js'
import type { Messenger, PeerMessage } from './messenger.js'

/** Messenger types: a request to make room, and its answer. */
export const EVICT_ASK = 'evict-ask'
export const EVICT_ANSWER = 'evict-answer'

/** How long an asker waits for one worker's answer (a worker restarting never answers). */
export const ASK_TIMEOUT_MS = 500

interface Ask extends PeerMessage { type: typeof EVICT_ASK, id: number, g: number, remote: string, why: string, addr?: string }
interface Answer extends PeerMessage { type: typeof EVICT_ANSWER, id: number, ok: boolean }

/** Makes worker `slot` (generation `generation`, one of `count`) ask and answer the others. */
export function wireEviction (state: ServerState, o: { messenger: Messenger, slot: number, generation: number, count: number }): void {
  const pending = new Map<number, (ok: boolean) => void>()
  /** Asks given up on (timed out), with the address whose slot a late yes would bring too. */
  const abandoned = new Map<number, string | undefined>()
  let lastId = 0
  let next = 0
  const me = { w: o.slot, g: o.generation }

  o.messenger.on(EVICT_ASK, (msg, from) => {
    const m = msg as Ask
    const ok = state.limits.dropFor({ w: from, g: m.g }, m.remote, m.why, m.addr)
    o.messenger.send(from, { type: EVICT_ANSWER, id: m.id, ok })
  })
  o.messenger.on(EVICT_ANSWER, (msg) => {
    const m = msg as Answer
    const done = pending.get(m.id)
    if (done !== undefined) { pending.delete(m.id); done(m.ok); return }
    // Answered after the asker gave up: the slots moved here hold nothing; they go.
    if (!abandoned.has(m.id)) return
    const addr = abandoned.get(m.id)
    abandoned.delete(m.id)
    if (!m.ok) return
    state.locks.uncount('connections')
    if (addr !== undefined) state.locks.uncount(`ip:${addr}`)
  })

  const askOne = (slot: number, remote: string, why: string, addr: string | undefined): Promise<boolean> => new Promise((resolve) => {
    const id = ++lastId
    const timer = setTimeout(() => {
      pending.delete(id)
      // A dead worker never answers; a late one does once: forget it after a while either way.
      abandoned.set(id, addr)
      setTimeout(() => { abandoned.delete(id) }, 60_000).unref()
      resolve(false)
    }, ASK_TIMEOUT_MS)
    timer.unref()
    pending.set(id, (ok) => { clearTimeout(timer); resolve(ok) })
    o.messenger.send(slot, { type: EVICT_ASK, id, g: me.g, remote, why, ...(addr !== undefined ? { addr } : {}) })
  })

  state.limits.peers = {
    async ask (remote, why, addr) {
      // The others in turn, starting after the one asked first last time (spread the asks).
      const others = Array.from({ length: o.count }, (_, i) => i).filter(i => i !== o.slot)
      const start = next++ % Math.max(others.length, 1)
      for (let i = 0; i < others.length; i++) {
        if (await askOne(others[(start + i) % others.length], remote, why, addr)) return true
      }
      return false
    },
  }
}
