// Named pipes on IPC$ (MS-SMB2 3.3.5.9 / 3.3.5.12 / 3.3.5.13 / 3.3.5.15.? FSCTL_PIPE_TRANSCEIVE):
// the SMB face of the sans-IO RPC endpoints in src/rpc. Each handler calls in here with one line;
// this file maps endpoint outcomes to NTSTATUS and builds the pipe-specific answers.
import type { RequestContext, Reply } from './context.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import { AccessMask, CreateAction, InfoType, OplockLevel } from '../wire/constants.js'
import { FileInformationClass as C, FILE_ATTRIBUTE_NORMAL } from '../wire/fscc/constants.js'
import { Open } from '../session/model.js'
import { encodeCreateResponse } from './commands/create.wire.js'
import { openRpcPipe, RpcPipeError } from '../rpc/endpoint.js'
import type { PipeHandle, PipeService } from '../rpc/host.js'
import { SType, type RpcEnv, type RpcShare } from '../rpc/service.js'
import type { ServerState } from '../session/server-state.js'
import { IdMap, machineSid, readUnixAccounts } from '../auth/idmap.js'
import { sidToString } from '../wire/dtyp/sid.js'

/**
 * The data plane's answers to what the RPC services ask: the server's names and the share table,
 * read at each question, so a reload is seen at once.
 */
export function rpcEnv (server: ServerState): RpcEnv {
  // The accounts as they are now: the password db after the last reload, /etc/passwd and /etc/group as read now.
  const idmap = (): IdMap => {
    const unix = readUnixAccounts()
    return new IdMap({ netbiosName: server.config.global.netbiosName, dbUsers: server.accounts.keys(), unixUsers: unix.users, unixGroups: unix.groups })
  }
  return {
    server: async () => {
      const g = server.config.global
      return { netbiosName: g.netbiosName, workgroup: g.workgroup, serverString: g.serverString, domainSid: sidToString(machineSid(g.netbiosName)) }
    },
    lookupNames: async (names) => { const m = idmap(); return names.map(n => m.lookupName(n)) },
    lookupSids: async (sids) => { const m = idmap(); return sids.map(s => m.lookupSid(s)) },
    users: async () => idmap().domainUsers(),
    shares: async () => {
      const g = server.config.global
      const uses = new Map<string, number>()
      for (const s of server.sessions.values()) {
        for (const t of s.trees.values()) uses.set(t.shareName.toLowerCase(), (uses.get(t.shareName.toLowerCase()) ?? 0) + 1)
      }
      const list: RpcShare[] = [...server.shares.values()].map(({ config: c }) => ({
        name: c.name,
        // MS-SRVS 2.2.2.4: names ending in $ are special (hidden from casual browsing).
        type: SType.DISKTREE | (c.name.endsWith('$') ? SType.SPECIAL : 0),
        comment: c.comment,
        path: c.path,
        browseable: c.browseable,
        available: c.available,
        maxUses: c.maxConnections,
        currentUses: uses.get(c.name.toLowerCase()) ?? 0,
      }))
      list.push({
        name: 'IPC$', type: SType.IPC | SType.SPECIAL, comment: `IPC Service (${g.serverString})`, path: '',
        browseable: true, available: true, maxUses: 0, currentUses: uses.get('ipc$') ?? 0,
      })
      return list
    },
  }
}

const PIPE_STATUS: Record<RpcPipeError['code'], number> = {
  SMBTS_ERR_RPC_PIPE_BUSY: NtStatus.PIPE_BUSY,
  SMBTS_ERR_RPC_PIPE_BROKEN: NtStatus.PIPE_DISCONNECTED,
  // The RPC process died under the pipe (or is not running): what Windows answers for a pipe whose server end went away.
  SMBTS_ERR_RPC_SERVICE_DIED: NtStatus.PIPE_BROKEN,
}

function pipeError (e: unknown): never {
  if (e instanceof RpcPipeError) throw new NtStatusError(PIPE_STATUS[e.code], e.message)
  throw e
}

/** The RPC endpoints in this process: servers built in memory (tests) have no RPC process. */
function inProcess (server: ServerState): PipeService {
  const env = rpcEnv(server)
  return { open: async (name, user) => openRpcPipe(name, env, user) }
}

/**
 * CREATE on IPC$: an Open with no file behind it, its RPC endpoint in `pipe`. `granted` is the
 * access asked for, its generic rights already mapped (create.ts mapGenericAccess).
 */
export async function openPipe (ctx: RequestContext, name: string, granted: number): Promise<Reply> {
  const tree = ctx.tree!
  const session = ctx.session!
  let pipe: PipeHandle | undefined
  try {
    pipe = await (ctx.server.rpc ?? inProcess(ctx.server)).open(name, session.user)
  } catch (e) {
    if (!(e instanceof RpcPipeError)) throw e
    ctx.server.log.warn(`pipe ${JSON.stringify(name)} not opened: ${e.message}`)
    throw new NtStatusError(NtStatus.PIPE_NOT_AVAILABLE, e.message)
  }
  if (pipe === undefined) {
    if (ctx.server.log.wants('ipc')) ctx.server.log.debug('ipc', `pipe ${JSON.stringify(name)} requested: no such RPC endpoint`)
    throw new NtStatusError(NtStatus.OBJECT_NAME_NOT_FOUND, `pipe ${name} not available`)
  }
  if (granted === 0) { pipe.close(); throw new NtStatusError(NtStatus.ACCESS_DENIED, 'no access requested') }
  const volatile = ctx.server.newFileId()
  const open = new Open({ persistent: volatile, volatile }, tree, pipe.name, undefined, granted, 0, 0, false)
  open.pipe = pipe
  session.opens.set(volatile, open)
  tree.opens.add(open)
  if (ctx.server.log.wants('ipc')) ctx.server.log.debug('ipc', `pipe ${pipe.name} opened`)
  // MS-SMB2 3.3.5.9: a pipe has no times and no size; Windows reports FILE_ATTRIBUTE_NORMAL.
  return {
    body: encodeCreateResponse({
      oplockLevel: OplockLevel.NONE,
      createAction: CreateAction.OPENED,
      info: {
        creationTime: 0n, lastAccessTime: 0n, lastWriteTime: 0n, changeTime: 0n,
        endOfFile: 0n, allocationSize: 0n, fileAttributes: FILE_ATTRIBUTE_NORMAL,
        indexNumber: 0n, numberOfLinks: 1, isDirectory: false,
      },
      fileId: open.fileId,
      contexts: [],
    }),
  }
}

function pipeOf (open: Open): PipeHandle {
  if (open.pipe === undefined) throw new NtStatusError(NtStatus.INVALID_DEVICE_REQUEST, 'not a pipe')
  return open.pipe
}

function readBody (n: number): Buffer {
  // MS-SMB2 2.2.20: StructureSize 17, DataOffset 0x50, DataLength, DataRemaining.
  const out = Buffer.alloc(16)
  out.writeUInt16LE(17, 0)
  out[2] = 0x50
  out.writeUInt32LE(n, 4)
  return out
}

/**
 * READ on a pipe: the next message, or as much of it as fits, with STATUS_BUFFER_OVERFLOW when
 * some is left for the next READ (message-mode pipe semantics). Nothing pending answers
 * STATUS_PIPE_EMPTY: RPC clients only read after a write that produced an answer, and a
 * blocking read would need an async (STATUS_PENDING) reply.
 */
export function pipeRead (open: Open, length: number): Reply {
  if ((open.grantedAccess & AccessMask.FILE_READ_DATA) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED)
  let r
  try { r = pipeOf(open).read(length) } catch (e) { pipeError(e) }
  if (r === undefined) throw new NtStatusError(NtStatus.PIPE_EMPTY)
  return { status: r.more ? NtStatus.BUFFER_OVERFLOW : NtStatus.SUCCESS, body: readBody(r.data.length), payload: r.data.length > 0 ? r.data : undefined }
}

/** WRITE on a pipe: the bytes go to the endpoint, which answers into its read queue. */
export async function pipeWrite (open: Open, data: Buffer): Promise<Reply> {
  if ((open.grantedAccess & (AccessMask.FILE_WRITE_DATA | AccessMask.FILE_APPEND_DATA)) === 0) throw new NtStatusError(NtStatus.ACCESS_DENIED)
  let n = 0
  // A copy: the pipe may keep a fragment past this request, and the frame's buffer may be reused.
  try { n = await pipeOf(open).write(Buffer.from(data)) } catch (e) { pipeError(e) }
  // MS-SMB2 2.2.22: StructureSize 17, Reserved, Count, Remaining, WriteChannelInfo.
  const out = Buffer.alloc(16)
  out.writeUInt16LE(17, 0)
  out.writeUInt32LE(n, 4)
  return { body: out }
}

/** FSCTL_PIPE_TRANSCEIVE: write then read; an answer larger than MaxOutputResponse → STATUS_BUFFER_OVERFLOW, the rest by READ. */
export async function pipeTransceive (ctx: RequestContext, input: Buffer, maxOutput: number): Promise<{ status: number, data: Buffer }> {
  const open = ctx.open
  if (open === undefined) throw new NtStatusError(NtStatus.FILE_CLOSED)
  const pipe = pipeOf(open)
  let r
  // A copy: the frame's buffer may be reused before the RPC process answers.
  try { r = await pipe.transact(Buffer.from(input), maxOutput) } catch (e) { pipeError(e) }
  return { status: r.more ? NtStatus.BUFFER_OVERFLOW : NtStatus.SUCCESS, data: r.data }
}

/** QUERY_INFO on a pipe: the classes Windows and Samba answer for a pipe handle. */
export function pipeQueryInfo (open: Open, infoType: number, infoClass: number, outputBufferLength: number): { status: number, data: Buffer } {
  const pipe = pipeOf(open)
  if (infoType !== InfoType.FILE) throw new NtStatusError(NtStatus.NOT_SUPPORTED, 'pipe: only file information')
  let data: Buffer
  switch (infoClass) {
    case C.FileBasicInformation:
      // MS-FSCC 2.4.7: no times; attributes NORMAL.
      data = Buffer.alloc(40)
      data.writeUInt32LE(FILE_ATTRIBUTE_NORMAL, 32)
      break
    case C.FileStandardInformation:
      // MS-FSCC 2.4.41: AllocationSize 4096, EndOfFile 0, NumberOfLinks 1, DeletePending 1 (what Windows reports for a pipe), Directory 0.
      data = Buffer.alloc(24)
      data.writeBigUInt64LE(4096n, 0)
      data.writeUInt32LE(1, 16)
      data[20] = 1
      break
    case C.FilePipeInformation:
      // MS-FSCC 2.4.33: ReadMode FILE_PIPE_MESSAGE_MODE (1), CompletionMode FILE_PIPE_QUEUE_OPERATION (0).
      data = Buffer.alloc(8)
      data.writeUInt32LE(1, 0)
      break
    case C.FilePipeLocalInformation: {
      // MS-FSCC 2.4.34: a message-type, full-duplex, connected pipe seen from the client end.
      data = Buffer.alloc(40)
      data.writeUInt32LE(1, 0) // NamedPipeType: FILE_PIPE_MESSAGE_TYPE
      data.writeUInt32LE(2, 4) // NamedPipeConfiguration: FILE_PIPE_FULL_DUPLEX
      data.writeUInt32LE(0xffffffff, 8) // MaximumInstances: unlimited
      data.writeUInt32LE(1, 12) // CurrentInstances
      data.writeUInt32LE(65536, 16) // InboundQuota
      data.writeUInt32LE(Math.min(pipe.pendingBytes, 0xffffffff), 20) // ReadDataAvailable
      data.writeUInt32LE(65536, 24) // OutboundQuota
      data.writeUInt32LE(65536, 28) // WriteQuotaAvailable
      data.writeUInt32LE(3, 32) // NamedPipeState: FILE_PIPE_CONNECTED_STATE
      data.writeUInt32LE(0, 36) // NamedPipeEnd: FILE_PIPE_CLIENT_END
      break
    }
    default:
      throw new NtStatusError(NtStatus.INVALID_PARAMETER, `pipe: FileInformationClass ${infoClass}`)
  }
  // MS-SMB2 3.3.5.20.1: fixed-size classes that do not fit fail outright.
  if (data.length > outputBufferLength) throw new NtStatusError(NtStatus.INFO_LENGTH_MISMATCH)
  return { status: NtStatus.SUCCESS, data }
}
