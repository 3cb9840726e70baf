// Sessions across workers. A session lives in the worker that authenticated it, and one client's
// connections meet one worker (steering by address, hand-over by ClientGuid); what is left is a
// client that comes back on a new connection with nothing to hand it over by — an SMB 2.0.2
// client has no ClientGuid — naming its old session as PreviousSessionId (MS-SMB2 3.3.5.5.3).
// The old session's id names its worker (server-state.ts SessionId layout); that worker is asked
// over the messenger to drop it, and checks, as it would for its own client, that the user is
// the same. Nothing waits for the answer: the new session is valid either way, as it would be
// if the old one were already gone.
import type { ServerState } from '../session/server-state.js'
import { replacePreviousSession } from '../session/teardown.js'
import type { Messenger, PeerMessage } from './messenger.js'

/** The messenger type of a request to drop a replaced session. */
export const DROP_SESSION_MESSAGE = 'drop-previous-session'

interface DropSession extends PeerMessage {
  /** The session to drop, the user that replaced it, and the session that did: hex ids. */
  previous: string
  user: string
  by: string
}

export function joinSessionPeers (state: ServerState, w: { slot: number, generation: number, messenger: Messenger }): void {
  state.joinWorkers(w.slot, w.generation, {
    slot: w.slot,
    dropPreviousSession (slot, previous, user, by) {
      const m: DropSession = { type: DROP_SESSION_MESSAGE, previous: previous.toString(16), user, by: by.toString(16) }
      w.messenger.send(slot, m)
    },
  })
  w.messenger.on(DROP_SESSION_MESSAGE, (msg, from) => {
    const m = msg as DropSession
    if (typeof m.previous !== 'string' || typeof m.user !== 'string' || typeof m.by !== 'string' ||
      !/^[0-9a-f]{1,16}$/.test(m.previous) || !/^[0-9a-f]{1,16}$/.test(m.by)) return
    replacePreviousSession(state, BigInt(`0x${m.previous}`), m.user, BigInt(`0x${m.by}`), `${m.user} (a new session on w${from})`)
  })
}
