// One-at-a-time sections per name: the CREATEs of a name that does not exist yet run in turn, so
// the second one sees what the first one made (opens it, or collides) instead of racing it
// between its lookup and its O_EXCL/mkdir. Process-local, like the server today (one process);
// with several workers it belongs in the locking store, with the share modes.

export class NameLocks {
  private readonly tails = new Map<string, Promise<void>>()

  /** Waits for every earlier holder of `key`; the returned function releases it (once). */
  async acquire (key: string): Promise<() => void> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    let done!: () => void
    const mine = new Promise<void>((resolve) => { done = resolve })
    const tail = prev.then(() => mine)
    this.tails.set(key, tail)
    await prev
    let released = false
    return () => {
      if (released) return
      released = true
      done()
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }

  /** Keys held or waited for (tests). */
  get size (): number { return this.tails.size }
}
