// One named pipe's RPC endpoint (MS-RPCE 2.1.1.2 ncacn_np): bytes in through write(), whole
// messages (one PDU fragment each) out through read(), and transact() for FSCTL_PIPE_TRANSCEIVE.
// Sans-IO: it knows nothing of SMB; the SMB side maps its outcomes to NTSTATUS.
import {
  BIND_TIME_FEATURE_PREFIX, ContResult, FaultStatus, NDR20, NULL_SYNTAX, PfcFlags, PType, ProviderReason, RejectReason,
  RpcPduError, decodeBind, decodeCommonHeader, decodeRequest, encodeBindAck, encodeBindNak, encodeFault, encodeResponseFragments,
  type ContextResult, type PresentationContext, type SyntaxId, COMMON_HEADER_LENGTH,
} from './pdu.js'
import { NdrError } from './ndr.js'
import { HandleTable, RpcFault, type RpcEnv, type RpcInterface } from './service.js'
import { srvsvc } from './srvsvc.js'
import { wkssvc } from './wkssvc.js'
import { lsarpc } from './lsarpc.js'
import { dssetup } from './dssetup.js'
import { samr } from './samr.js'

/** Why a pipe operation failed; the SMB side maps each code to an NTSTATUS. */
export class RpcPipeError extends Error {
  constructor (readonly code: 'SMBTS_ERR_RPC_PIPE_BROKEN' | 'SMBTS_ERR_RPC_PIPE_BUSY' | 'SMBTS_ERR_RPC_SERVICE_DIED', message: string) {
    super(message)
    this.name = 'RpcPipeError'
  }
}

/** The fragment size we offer both ways (what Windows offers on named pipes). */
export const MAX_FRAG = 4280
/** MS-RPCE 3.3.1.5.? / C706: the smallest max_recv_frag a client may ask for (MUST_RECV_FRAG_SIZE). */
export const MIN_FRAG = 1432
/** Largest reassembled request stub we accept. */
export const MAX_REQUEST_STUB = 4 * 1024 * 1024
/** MS-RPCE 3.3.1.5.3: bind-time features we support (none: no security context multiplexing, no keep-on-orphan). */
const SUPPORTED_BIND_TIME_FEATURES = 0

const PIPES: Record<string, RpcInterface[]> = {
  srvsvc: [srvsvc],
  wkssvc: [wkssvc],
  lsarpc: [lsarpc, dssetup],
  samr: [samr],
}

/** `srvsvc`, `\srvsvc`, `\PIPE\srvsvc`, any case → `srvsvc`; undefined when no endpoint serves it. */
export function rpcPipeName (name: string): string | undefined {
  let n = name.toLowerCase()
  if (n.startsWith('\\')) n = n.slice(1)
  if (n.startsWith('pipe\\')) n = n.slice(5)
  return Object.hasOwn(PIPES, n) ? n : undefined
}

let nextAssocGroup = 0x53f0

interface PendingCall { callId: number, contextId: number, opnum: number, parts: Buffer[], size: number }

export interface PipeRead {
  data: Buffer
  /** Part of the current message is still unread (the SMB side answers STATUS_BUFFER_OVERFLOW). */
  more: boolean
}

/**
 * What a pipe's reader takes from its queue of answers: the oldest message, or its first
 * `maxLength` bytes with the rest left first in line. `out` must not be empty.
 */
export function takeQueued (out: Buffer[], maxLength: number): PipeRead {
  const head = out[0]
  if (head.length <= maxLength) {
    out.shift()
    return { data: head, more: false }
  }
  out[0] = head.subarray(maxLength)
  return { data: head.subarray(0, maxLength), more: true }
}

/** TransactNamedPipe on a pipe: write then read, refused while an earlier answer is unread. */
export async function transactPipe (pipe: { write: (b: Buffer) => Promise<number>, read: (n: number) => PipeRead | undefined },
  queued: number, input: Buffer, maxOutput: number): Promise<PipeRead> {
  if (queued > 0) throw new RpcPipeError('SMBTS_ERR_RPC_PIPE_BUSY', 'unread data in the pipe')
  await pipe.write(input)
  return pipe.read(maxOutput) ?? { data: Buffer.alloc(0), more: false }
}

export class RpcPipe {
  private inbuf: Buffer = Buffer.alloc(0)
  private readonly out: Buffer[] = []
  private readonly contexts = new Map<number, RpcInterface>()
  private bound = false
  private broken = false
  private xmitFrag = MAX_FRAG
  private assocGroupId = 0
  private call?: PendingCall
  private readonly handles = new HandleTable()

  /** Told of a call that failed for a reason other than its stub (logged by the RPC process). */
  onFailure?: (e: Error) => void

  constructor (readonly name: string, private readonly interfaces: RpcInterface[], private readonly env: RpcEnv, readonly user = '') {}

  /** Bytes waiting to be read. */
  get pendingBytes (): number {
    return this.out.reduce((s, b) => s + b.length, 0)
  }

  get isBroken (): boolean { return this.broken }

  /**
   * Takes bytes the client wrote and processes every whole PDU; resolves with the count accepted
   * once their answers are queued for read(). Writes are processed one after another.
   */
  async write (data: Buffer): Promise<number> {
    const run = this.tail.then(async () => await this.writeNow(data))
    this.tail = run.catch(() => {})
    return await run
  }

  private tail: Promise<unknown> = Promise.resolve()

  private async writeNow (data: Buffer): Promise<number> {
    if (this.broken) throw new RpcPipeError('SMBTS_ERR_RPC_PIPE_BROKEN', 'pipe is broken')
    this.inbuf = this.inbuf.length === 0 ? Buffer.from(data) : Buffer.concat([this.inbuf, data])
    while (this.inbuf.length >= COMMON_HEADER_LENGTH && !this.broken) {
      let fragLength: number
      try {
        fragLength = decodeCommonHeader(this.inbuf).fragLength
      } catch {
        // Framing is lost: there is no telling where the next PDU starts (C706 12.6.3.1).
        this.broken = true
        this.inbuf = Buffer.alloc(0)
        return data.length
      }
      if (this.inbuf.length < fragLength) break
      const pdu = this.inbuf.subarray(0, fragLength)
      this.inbuf = this.inbuf.subarray(fragLength)
      await this.process(pdu)
    }
    return data.length
  }

  /** Up to maxLength bytes of the next message, or undefined when nothing is pending. */
  read (maxLength: number): PipeRead | undefined {
    if (this.out.length === 0) {
      if (this.broken) throw new RpcPipeError('SMBTS_ERR_RPC_PIPE_BROKEN', 'pipe is broken')
      return undefined
    }
    return takeQueued(this.out, maxLength)
  }

  /** Write then read, as TransactNamedPipe does; refused while an earlier answer is unread. */
  async transact (input: Buffer, maxOutput: number): Promise<PipeRead> {
    return await transactPipe(this, this.out.length, input, maxOutput)
  }

  /** The messages queued for read(), taken whole (the RPC process hands them to the data plane). */
  drain (): Buffer[] {
    return this.out.splice(0)
  }

  close (): void {
    this.broken = true
    this.out.length = 0
    this.call = undefined
  }

  private async process (pdu: Buffer): Promise<void> {
    const h = decodeCommonHeader(pdu)
    try {
      switch (h.ptype) {
        case PType.BIND: return this.onBind(pdu, false)
        case PType.ALTER_CONTEXT: return this.onBind(pdu, true)
        case PType.REQUEST: return await this.onRequest(pdu)
        case PType.AUTH3: return // no security providers: nothing to complete
        case PType.CO_CANCEL:
        case PType.ORPHANED:
          if (this.call?.callId === h.callId) this.call = undefined
          return
        default:
          this.out.push(encodeFault(h.callId, 0, FaultStatus.PROTO_ERROR, true))
      }
    } catch (e) {
      if (!(e instanceof RpcPduError)) throw e
      if (h.ptype === PType.BIND) this.out.push(encodeBindNak(h.callId, RejectReason.NOT_SPECIFIED))
      else this.out.push(encodeFault(h.callId, 0, FaultStatus.PROTO_ERROR, true))
    }
  }

  private negotiate (c: PresentationContext): ContextResult {
    const feature = c.transferSyntaxes.find(t => t.uuid.startsWith(BIND_TIME_FEATURE_PREFIX))
    if (feature !== undefined) {
      // MS-RPCE 2.2.2.14: the bitmask is the first two bytes of the UUID's last 8 (here, "XXXX" in ...-XXXX-0000...).
      const bits = Number.parseInt(feature.uuid.slice(19, 21), 16) | (Number.parseInt(feature.uuid.slice(21, 23), 16) << 8)
      return { result: ContResult.NEGOTIATE_ACK, reason: bits & SUPPORTED_BIND_TIME_FEATURES, transferSyntax: NULL_SYNTAX }
    }
    const iface = this.interfaces.find(i => sameInterface(i.syntax, c.abstractSyntax))
    if (iface === undefined) return { result: ContResult.PROVIDER_REJECTION, reason: ProviderReason.ABSTRACT_SYNTAX_NOT_SUPPORTED, transferSyntax: NULL_SYNTAX }
    // NDR64 is not offered: only NDR 2.0 is accepted (MS-RPCE 3.3.1.5.3).
    const ndr = c.transferSyntaxes.find(t => t.uuid === NDR20.uuid && t.version === NDR20.version)
    if (ndr === undefined) return { result: ContResult.PROVIDER_REJECTION, reason: ProviderReason.PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED, transferSyntax: NULL_SYNTAX }
    const existing = this.contexts.get(c.contextId)
    if (existing !== undefined && existing !== iface) {
      // C706 12.6.4.1: a context id, once defined, keeps its meaning.
      return { result: ContResult.PROVIDER_REJECTION, reason: ProviderReason.NOT_SPECIFIED, transferSyntax: NULL_SYNTAX }
    }
    this.contexts.set(c.contextId, iface)
    return { result: ContResult.ACCEPTANCE, reason: 0, transferSyntax: NDR20 }
  }

  private onBind (pdu: Buffer, alter: boolean): void {
    const b = decodeBind(pdu)
    const callId = b.header.callId
    if (!alter) {
      if (this.bound) { this.out.push(encodeBindNak(callId, RejectReason.NOT_SPECIFIED)); return }
      if (b.header.authLength > 0) { this.out.push(encodeBindNak(callId, RejectReason.AUTHENTICATION_TYPE_NOT_RECOGNIZED)); return }
      if (b.header.rpcVersMinor > 1) { this.out.push(encodeBindNak(callId, RejectReason.PROTOCOL_VERSION_NOT_SUPPORTED)); return }
      if (b.contexts.length === 0 || b.maxRecvFrag < MIN_FRAG) { this.out.push(encodeBindNak(callId, RejectReason.NOT_SPECIFIED)); return }
      this.bound = true
      this.xmitFrag = Math.min(b.maxRecvFrag, MAX_FRAG)
      this.assocGroupId = b.assocGroupId !== 0 ? b.assocGroupId : nextAssocGroup++
    } else if (!this.bound) {
      this.out.push(encodeFault(callId, 0, FaultStatus.PROTO_ERROR, true))
      return
    }
    const results = b.contexts.map(c => this.negotiate(c))
    this.out.push(encodeBindAck({
      ptype: alter ? PType.ALTER_CONTEXT_RESP : PType.BIND_ACK,
      callId,
      maxXmitFrag: this.xmitFrag,
      maxRecvFrag: MAX_FRAG,
      assocGroupId: this.assocGroupId,
      secondaryAddress: alter ? '' : `\\PIPE\\${this.name}`,
      results,
    }))
  }

  private async onRequest (pdu: Buffer): Promise<void> {
    const req = decodeRequest(pdu)
    const { callId, pfcFlags } = req.header
    const fault = (status: number): void => {
      this.call = undefined
      this.out.push(encodeFault(callId, req.contextId, status, true))
    }
    if (pfcFlags & PfcFlags.FIRST_FRAG) {
      if (this.call !== undefined) { fault(FaultStatus.PROTO_ERROR); return } // a new call before the last one's final fragment
      this.call = { callId, contextId: req.contextId, opnum: req.opnum, parts: [], size: 0 }
    } else if (this.call === undefined || this.call.callId !== callId) {
      fault(FaultStatus.PROTO_ERROR)
      return
    }
    const call = this.call
    call.parts.push(Buffer.from(req.stub))
    call.size += req.stub.length
    if (call.size > MAX_REQUEST_STUB) { fault(FaultStatus.FAULT_REMOTE_NO_MEMORY); return }
    if ((pfcFlags & PfcFlags.LAST_FRAG) === 0) return
    this.call = undefined
    const iface = this.contexts.get(call.contextId)
    if (iface === undefined) { this.out.push(encodeFault(callId, call.contextId, FaultStatus.UNKNOWN_IF, true)); return }
    const stub = call.parts.length === 1 ? call.parts[0] : Buffer.concat(call.parts)
    let answer: Buffer | undefined
    try {
      answer = await iface.call(call.opnum, stub, this.env, { handles: this.handles, user: this.user })
    } catch (e) {
      if (e instanceof RpcFault) { this.out.push(encodeFault(callId, call.contextId, e.status, true)); return }
      // A stub that does not decode is the client's fault; anything else (a question the data
      // plane did not answer) is the server's: either way this call faults, the pipe goes on.
      this.out.push(encodeFault(callId, call.contextId, e instanceof NdrError ? FaultStatus.FAULT_NDR : FaultStatus.FAULT_UNSPEC, true))
      if (!(e instanceof NdrError)) this.onFailure?.(e as Error)
      return
    }
    if (this.broken) return // closed while the call ran
    if (answer === undefined) { this.out.push(encodeFault(callId, call.contextId, FaultStatus.OP_RNG_ERROR, true)); return }
    this.out.push(...encodeResponseFragments(callId, call.contextId, answer, this.xmitFrag))
  }
}

function sameInterface (ours: SyntaxId, theirs: SyntaxId): boolean {
  // Major versions must match; a client's minor version may not exceed ours (C706 12.6.3.? / MS-RPCE 3.3.1.5.3).
  return ours.uuid === theirs.uuid && (ours.version & 0xffff) === (theirs.version & 0xffff) && (theirs.version >>> 16) <= (ours.version >>> 16)
}

/** Opens the RPC endpoint behind a pipe name, or undefined when none serves it. */
export function openRpcPipe (name: string, env: RpcEnv, user = ''): RpcPipe | undefined {
  const n = rpcPipeName(name)
  if (n === undefined) return undefined
  return new RpcPipe(n, PIPES[n], env, user)
}
