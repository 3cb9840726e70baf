// A file renamed through one open is renamed for every other open of it in this process: each
// goes by its new name (FileNameInformation, the log, a later rename), and a persistent one's
// record (persistent.ts), which names the file by its path, is rewritten so a restart finds the
// file where it is now. A renamed directory takes the opens beneath it along the same way.
// Opens held by other worker processes are not seen here (docs/durable-handles.md: Limits).
import type { ServerState } from './server-state.js'
import type { Open } from './model.js'
import { persistOpen } from './persistent.js'

/**
 * `by` renamed `from` to `to` on its share: every other live open of this process named `from`
 * or beneath it (connected or waiting for its client) takes the new name. Returns how many did.
 */
export function followRename (server: ServerState, by: Open, from: string, to: string): number {
  if (from === to || from === '') return 0
  const share = by.tree.shareName.toLowerCase()
  const moved = (o: Open): boolean => {
    if (o === by || !o.alive || o.tree.shareName.toLowerCase() !== share) return false
    if (o.path === from) { o.path = to; return true }
    if (o.path.startsWith(from + '/')) { o.path = to + o.path.slice(from.length); return true }
    return false
  }
  let n = 0
  const seen = new Set<Open>()
  const visit = (o: Open): void => {
    if (seen.has(o)) return
    seen.add(o)
    if (!moved(o)) return
    n++
    if (o.durable?.persistent === true) persistOpen(server, o)
  }
  for (const s of server.sessions.values()) for (const o of s.opens.values()) visit(o)
  for (const o of server.durable.parkedOpens()) visit(o)
  return n
}

/**
 * Whether a connected open of this process, other than `dir` itself, is of something beneath the
 * directory `dir` is open on. Durable opens waiting for their clients are not counted: they
 * follow a rename (followRename above).
 */
export function hasOpenBelow (server: ServerState, dir: Open): boolean {
  if (dir.path === '') return false
  const share = dir.tree.shareName.toLowerCase()
  const prefix = dir.path + '/'
  for (const s of server.sessions.values()) {
    for (const o of s.opens.values()) {
      if (o !== dir && o.alive && o.tree.shareName.toLowerCase() === share && o.path.startsWith(prefix)) return true
    }
  }
  return false
}
