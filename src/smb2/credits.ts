// MS-SMB2 3.3.1.1 / 3.3.5.2.3: the window of MessageIds a client may use. Each granted credit
// extends the window by one; each request consumes CreditCharge consecutive ids, each exactly once.

export class CreditWindow {
  /** Lowest MessageId not yet consumed. */
  private low = 0n
  /** Ids consumed above `low` (out-of-order arrival). */
  private readonly consumedAbove = new Set<bigint>()
  /** Ids granted: the window is [low, low + size). Starts with the 1 credit every connection has. */
  private size = 1n

  constructor (private readonly maxCredits: number) {}

  /** Credits the client holds right now. */
  get outstanding (): number {
    return Number(this.size) - this.consumedAbove.size
  }

  /** Consumes ids [messageId, messageId + charge); false if any is outside the window or reused. */
  consume (messageId: bigint, charge: number): boolean {
    const n = BigInt(Math.max(charge, 1))
    if (messageId < this.low || messageId + n > this.low + this.size) return false
    if (messageId === this.low && this.consumedAbove.size === 0) {
      // In order, nothing consumed above: the window just slides (no set to add to and drain).
      this.low += n
      this.size -= n
      return true
    }
    for (let i = 0n; i < n; i++) if (this.consumedAbove.has(messageId + i)) return false
    for (let i = 0n; i < n; i++) this.consumedAbove.add(messageId + i)
    while (this.consumedAbove.delete(this.low)) {
      this.low++
      this.size--
    }
    return true
  }

  /**
   * MS-SMB2 3.3.1.2: grant up to `requested` new credits (at least 1 when the client has none
   * left) without letting the client hold more than maxCredits.
   */
  grant (requested: number): number {
    const held = this.outstanding
    let g = Math.max(requested, 1)
    if (held + g > this.maxCredits) g = Math.max(this.maxCredits - held, 0)
    if (g === 0 && held === 0) g = 1
    this.size += BigInt(g)
    return g
  }
}
