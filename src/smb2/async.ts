// Asynchronous operations (MS-SMB2 3.3.4.2, 3.3.5.16): a request that must wait (a CREATE behind
// an oplock break) is registered here. Alone in its PDU it answers STATUS_PENDING at once with an
// AsyncId (the interim response) and sends its final response later; inside a compound chain it
// waits in place (3.3.5.2.7 lets a server do so) and CANCEL finds it by MessageId. CANCEL,
// LOGOFF, TREE_DISCONNECT and disconnect abort the wait; the request then completes exactly once.
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import type { Session, TreeConnect } from '../session/model.js'

/** How many early sync-form CANCELs a connection remembers. */
const MAX_EARLY_CANCELS = 64

/** Named states of one asynchronous request (CONVENTIONS 9). */
export enum AsyncState { Pending = 'Pending', Cancelled = 'Cancelled', Completed = 'Completed' }

export class AsyncOperation {
  state = AsyncState.Pending
  private readonly ac = new AbortController()

  constructor (
    /** Nonzero for a request that got an interim response; 0n while it waits inside a compound. */
    readonly asyncId: bigint,
    readonly messageId: bigint,
    readonly command: number,
    readonly session: Session | undefined,
    readonly tree: TreeConnect | undefined
  ) {}

  get signal (): AbortSignal { return this.ac.signal }

  /** Pending → Cancelled: the waiting handler gets `status` (STATUS_CANCELLED for CANCEL). */
  cancel (status: number, why: string): boolean {
    if (this.state !== AsyncState.Pending) return false
    this.state = AsyncState.Cancelled
    this.ac.abort(new NtStatusError(status, why))
    return true
  }

  /** Pending/Cancelled → Completed, once: the final response is being sent. */
  complete (): boolean {
    if (this.state === AsyncState.Completed) return false
    this.state = AsyncState.Completed
    return true
  }
}

/** MS-SMB2 3.3.1.7 Connection.AsyncCommandList, with the pending requests of compounds beside it. */
export class AsyncTable {
  private readonly byAsyncId = new Map<bigint, AsyncOperation>()
  private readonly byMessageId = new Map<bigint, AsyncOperation>()
  /**
   * MessageIds a sync-form CANCEL named before their request started waiting (the client sent
   * CANCEL before it saw an interim response): the request is cancelled as soon as it would
   * wait. MessageIds are never reused on a connection, so a stale entry is harmless; the set is
   * bounded all the same.
   */
  private readonly earlyCancels = new Set<bigint>()
  private lastAsyncId = 0n

  /** MS-SMB2 3.3.4.2: nonzero, unique on the connection, never reused while outstanding. */
  private newAsyncId (): bigint {
    do { this.lastAsyncId++ } while (this.lastAsyncId === 0n || this.byAsyncId.has(this.lastAsyncId))
    return this.lastAsyncId
  }

  add (messageId: bigint, command: number, session: Session | undefined, tree: TreeConnect | undefined, interim: boolean): AsyncOperation {
    const op = new AsyncOperation(interim ? this.newAsyncId() : 0n, messageId, command, session, tree)
    if (op.asyncId !== 0n) this.byAsyncId.set(op.asyncId, op)
    this.byMessageId.set(messageId, op)
    if (this.earlyCancels.delete(messageId)) op.cancel(NtStatus.CANCELLED, 'cancelled by the client before it waited')
    return op
  }

  /** A sync-form CANCEL that found no waiting request: remember it for that request (see above). */
  cancelEarly (messageId: bigint): void {
    if (this.earlyCancels.size >= MAX_EARLY_CANCELS) this.earlyCancels.delete(this.earlyCancels.values().next().value!)
    this.earlyCancels.add(messageId)
  }

  remove (op: AsyncOperation): void {
    if (this.byAsyncId.get(op.asyncId) === op) this.byAsyncId.delete(op.asyncId)
    if (this.byMessageId.get(op.messageId) === op) this.byMessageId.delete(op.messageId)
  }

  /** MS-SMB2 3.3.5.16: an async CANCEL names the AsyncId, a sync one the MessageId. */
  find (asyncId: bigint | undefined, messageId: bigint): AsyncOperation | undefined {
    return asyncId !== undefined ? this.byAsyncId.get(asyncId) : this.byMessageId.get(messageId)
  }

  get size (): number { return this.byMessageId.size }

  /** Aborts every pending request that `match` selects (teardown of a session, tree or connection). */
  cancelWhere (match: (op: AsyncOperation) => boolean, status: number, why: string): number {
    let n = 0
    for (const op of [...this.byMessageId.values()]) if (match(op) && op.cancel(status, why)) n++
    return n
  }
}
