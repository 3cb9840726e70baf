// Waiting in a test for something another process, the server's loop or a timer makes true.

/** Polls `cond` every `everyMs` until it holds or `ms` pass; whether it held. */
export async function until (cond: () => boolean, ms = 15_000, everyMs = 50): Promise<boolean> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) return false
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  return true
}
