// The RPC process (smbts's ksmbd.mountd): started by the data plane (src/rpc/host.ts) with a
// socket on fd 3; everything it will ever run is imported first, then it gives up its privileges
// (native dropPrivileges: an empty chroot, nobody:nogroup, no capabilities, no_new_privs) before
// it reads a byte. From then on it parses DCE/RPC for the named pipes the data plane opens here,
// and asks the data plane (ASK) for what it must know: the share table, the accounts.
//
// A pipe's trouble stays the pipe's: a PDU that breaks framing breaks its pipe (RpcPipe), and an
// unexpected exception while a pipe's bytes are processed closes that pipe, not the process.
import { Socket } from 'node:net'
import { native, nativeAvailable, nativeLoadError } from '../io/native.js'
import { openRpcPipe, type RpcPipe } from './endpoint.js'
import { askingEnv, type Question } from './questions.js'
import {
  DONE_BROKEN, IpcDecoder, IpcLogLevel, IpcType, IpcWireError, OpenStatus, decodeJson, decodeStrings, encodeFrame, encodeJson,
  encodeStrings, encodeU32, type IpcFrame, type IpcHello,
} from './ipc-wire.js'
import { RPC_CHILD_ENV, type RpcChildSpec } from './host.js'

/** How long a question may wait for the data plane's answer. */
const ASK_TIMEOUT_MS = 10_000
/** Most pipes one data plane may hold open here at once. */
const MAX_PIPES = 4096

function parseSpec (): RpcChildSpec {
  const raw = process.env[RPC_CHILD_ENV]
  if (raw === undefined) throw new Error(`${RPC_CHILD_ENV} is not set: this program is started by the smbts server`)
  const v = JSON.parse(raw) as Partial<RpcChildSpec>
  if (typeof v.uid !== 'number' || typeof v.gid !== 'number' || (v.root !== null && typeof v.root !== 'string')) throw new Error(`${RPC_CHILD_ENV}: bad spec`)
  return { uid: v.uid, gid: v.gid, root: v.root }
}

/** Gives up what the process may not keep; says what it has left. */
function dropPrivileges (spec: RpcChildSpec): IpcHello {
  const root = process.getuid?.() === 0
  const base = { pid: process.pid, uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1, chrooted: false, noNewPrivs: false, capEffective: 0, seccomp: false }
  if (!nativeAvailable) {
    // The data plane then started us as uid/gid already (libuv); no chroot, no no_new_privs.
    return { ...base, note: `native addon unavailable (${nativeLoadError?.message ?? 'not built'}): no chroot, no no_new_privs` }
  }
  const d = native.dropPrivileges(root ? spec.root : null, root ? spec.uid : base.uid, root ? spec.gid : base.gid)
  if (root && (d.uid === 0 || d.gid === 0 || d.capEffective !== 0 || d.capPermitted !== 0)) throw new Error(`privileges still held after dropping them: ${JSON.stringify(d)}`)
  const seccomp = native.restrictSyscalls()
  const notes = [...(root ? [] : ['not started as root: no chroot, no change of user']), ...(seccomp ? [] : ['no seccomp filter for this architecture'])]
  return { pid: process.pid, uid: d.uid, gid: d.gid, chrooted: d.chrooted, noNewPrivs: d.noNewPrivs, capEffective: d.capEffective, seccomp, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) }
}

export function serve (sock: Socket, hello: IpcHello): void {
  const send = (type: number, id: number, payload?: Buffer): void => { sock.write(encodeFrame(type, id, payload)) }
  const log = (level: number, text: string): void => { send(IpcType.LOG, 0, Buffer.concat([Buffer.from([level]), Buffer.from(text.slice(0, 2000), 'utf8')])) }
  let nextQuestion = 1
  const asked = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  const ask = async (q: Question): Promise<unknown> => await new Promise((resolve, reject) => {
    const id = nextQuestion++ >>> 0
    const timer = setTimeout(() => { asked.delete(id); reject(new Error(`the data plane did not answer ${q.q} in ${ASK_TIMEOUT_MS / 1000} s`)) }, ASK_TIMEOUT_MS)
    asked.set(id, { resolve, reject, timer })
    send(IpcType.ASK, id, encodeJson(q))
  })
  const env = askingEnv(ask)
  const pipes = new Map<number, RpcPipe>()

  const onData = async (p: RpcPipe, handle: number, data: Buffer): Promise<void> => {
    let flags = 0
    try {
      await p.write(data)
    } catch (e) {
      if ((e as { code?: string }).code !== 'SMBTS_ERR_RPC_PIPE_BROKEN') {
        // Not the client's doing as far as the endpoint can tell: this pipe ends, the process goes on.
        log(IpcLogLevel.ERROR, `pipe ${p.name}: ${(e as Error).stack ?? String(e)}`)
        p.close()
      }
    }
    for (const m of p.drain()) send(IpcType.DATA_OUT, handle, m)
    if (p.isBroken) flags |= DONE_BROKEN
    send(IpcType.DATA_DONE, handle, encodeU32(flags))
  }

  const onFrame = (f: IpcFrame): void => {
    switch (f.type) {
      case IpcType.OPEN: {
        const [name, user] = decodeStrings(f.payload, 2)
        if (pipes.has(f.id)) throw new IpcWireError(`OPEN of handle ${f.id}, already open`)
        const p = pipes.size < MAX_PIPES ? openRpcPipe(name, env, user) : undefined
        if (p === undefined) {
          send(IpcType.OPEN_REPLY, f.id, encodeU32(OpenStatus.NOT_FOUND, encodeStrings('')))
          return
        }
        p.onFailure = (e) => { log(IpcLogLevel.WARN, `pipe ${p.name}: a call failed: ${e.message}`) }
        pipes.set(f.id, p)
        log(IpcLogLevel.DEBUG, `pipe ${p.name} opened for ${JSON.stringify(user)} (handle ${f.id}, ${pipes.size} open)`)
        send(IpcType.OPEN_REPLY, f.id, encodeU32(OpenStatus.OK, encodeStrings(p.name)))
        return
      }
      case IpcType.DATA_IN: {
        const p = pipes.get(f.id)
        if (p === undefined) { send(IpcType.DATA_DONE, f.id, encodeU32(DONE_BROKEN)); return }
        void onData(p, f.id, f.payload)
        return
      }
      case IpcType.CLOSE: {
        const p = pipes.get(f.id)
        pipes.delete(f.id)
        p?.close()
        if (p !== undefined) log(IpcLogLevel.DEBUG, `pipe ${p.name} closed (handle ${f.id})`)
        return
      }
      case IpcType.ANSWER: {
        const a = asked.get(f.id)
        if (a === undefined) return // answered after its time ran out
        asked.delete(f.id)
        clearTimeout(a.timer)
        const v = decodeJson(f.payload) as { answer?: unknown, error?: unknown }
        if (typeof v === 'object' && v !== null && 'answer' in v) a.resolve(v.answer)
        else a.reject(new Error(`the data plane answered: ${typeof v?.error === 'string' ? v.error : 'an error'}`))
        return
      }
      default:
        throw new IpcWireError(`message type ${f.type} is not the data plane's to send`)
    }
  }

  const decoder = new IpcDecoder()
  sock.on('data', (chunk: Buffer) => {
    try {
      for (const f of decoder.push(chunk)) onFrame(f)
    } catch (e) {
      // The data plane spoke nonsense: nothing here can be trusted any more.
      process.stderr.write(`smbts rpc: ${(e as Error).message}: exiting\n`)
      process.exit(2)
    }
  })
  // The data plane closed our socket (it stops, or it is gone): so do we.
  sock.on('end', () => { process.exit(0) })
  sock.on('error', () => { process.exit(0) })
  send(IpcType.HELLO, 0, encodeJson(hello))
}

function main (): void {
  const spec = parseSpec()
  const sock = new Socket({ fd: 3, readable: true, writable: true })
  let hello: IpcHello
  try {
    hello = dropPrivileges(spec)
  } catch (e) {
    process.stderr.write(`smbts rpc: cannot drop privileges: ${(e as Error).message}\n`)
    process.exit(78)
  }
  serve(sock, hello)
}

if (process.env[RPC_CHILD_ENV] !== undefined) main()
