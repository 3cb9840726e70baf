// The data plane's side of the RPC process (ksmbd's split: the kernel server and ksmbd.mountd):
// DCE/RPC is parsed in a child process that holds nothing worth stealing (src/rpc/child.ts); this
// side starts it, carries each named pipe's bytes to it and its answers back (src/rpc/ipc-wire.ts),
// answers its questions from the data plane's state (RpcEnv), and starts it again when it dies.
//
// One RPC process per data-plane process (with workers: one per worker, started by the worker):
// the questions it asks (the share table with its current uses, the accounts after a reload) are
// answered by the process that holds that state, without a hop through the supervisor; a pipe
// never has to be routed to another process; and an RPC process that dies takes only the pipes
// of one worker's clients. The price is one small idle process per worker.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Socket } from 'node:net'
import type { Logger } from '../control/log.js'
import { nativeAvailable } from '../io/native.js'
import { RpcPipeError, takeQueued, transactPipe, type PipeRead } from './endpoint.js'
import type { RpcEnv } from './service.js'
import {
  DONE_BROKEN, IpcDecoder, IpcLogLevel, IpcType, IpcWireError, IPC_MAX_PAYLOAD, OpenStatus, decodeJson, decodeStrings, decodeU32,
  encodeFrame, encodeJson, encodeStrings, isIpcHello, type IpcFrame, type IpcHello,
} from './ipc-wire.js'
import { answerQuestion } from './questions.js'

/** A named pipe as the SMB side uses it: the in-process RpcPipe and RemotePipe both are one. */
export interface PipeHandle {
  readonly name: string
  readonly pendingBytes: number
  write: (data: Buffer) => Promise<number>
  read: (maxLength: number) => PipeRead | undefined
  transact: (input: Buffer, maxOutput: number) => Promise<PipeRead>
  close: () => void
}

export interface PipeService {
  /** The pipe behind `name`, or undefined when no endpoint serves it. Rejects with RpcPipeError when the service is down. */
  open: (name: string, user: string) => Promise<PipeHandle | undefined>
}

/** The environment variable carrying the child's instructions (JSON RpcChildSpec). */
export const RPC_CHILD_ENV = 'SMBTS_RPC_CHILD'

export interface RpcChildSpec {
  /** The user and group to become (as root); ignored otherwise. */
  uid: number
  gid: number
  /** An empty directory to chroot into (as root). */
  root: string | null
}

/** How long a DATA_IN may go unanswered before the RPC process is taken for hung (and killed). */
const CALL_TIMEOUT_MS = 30_000
/** How long an open waits for an RPC process that is (re)starting. */
const START_WAIT_MS = 5_000
/** An RPC process that dies sooner than this after its start counts as a quick death (growing restart delay). */
const HEALTHY_MS = 5_000
const RESTART_DELAY_MAX_MS = 10_000
/** Answers one pipe may hold unread before the RPC process is taken to flood (a client reads far less). */
const MAX_PENDING_OUT = 8 * 1024 * 1024
/** Questions the RPC process may have unanswered at once. */
const MAX_QUESTIONS = 256

/** The unprivileged account the RPC process runs as: `nobody` from /etc/passwd, else 65534:65534. */
export function unprivilegedIds (): { uid: number, gid: number } {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':')
      if (f[0] === 'nobody' && /^\d+$/.test(f[2] ?? '') && /^\d+$/.test(f[3] ?? '')) return { uid: +f[2]!, gid: +f[3]! }
    }
  } catch { /* no /etc/passwd: the conventional ids */ }
  return { uid: 65534, gid: 65534 }
}

/** The command that runs the RPC process: the built child.js beside this file, else child.ts through the test loader. */
export function defaultCommand (): { file: string, args: string[] } {
  const js = fileURLToPath(new URL('./child.js', import.meta.url))
  // --jitless: no code is generated at run time (no writable-executable memory in the process
  // that parses client bytes; RPC needs no speed); a small heap: an answer is a few KiB.
  if (existsSync(js)) return { file: process.execPath, args: ['--jitless', '--max-old-space-size=64', js] }
  const ts = fileURLToPath(new URL('./child.ts', import.meta.url))
  const hooks = new URL('../../test/helpers/strip-types.mjs', import.meta.url).href
  return { file: process.execPath, args: ['--experimental-transform-types', '--no-warnings', `--import=${hooks}`, ts] }
}

interface Waiter { resolve: (f: IpcFrame) => void, reject: (e: Error) => void }

/** A pipe whose endpoint lives in the RPC process; its answers wait here for the client's READs. */
class RemotePipe implements PipeHandle {
  private readonly out: Buffer[] = []
  private broken: RpcPipeError | undefined
  private tail: Promise<unknown> = Promise.resolve()
  /** The DATA_IN in flight: DATA_OUT frames land in `out`, DATA_DONE settles it. */
  waiter: Waiter | undefined

  constructor (readonly name: string, readonly handle: number, private readonly child: Child) {}

  get pendingBytes (): number { return this.out.reduce((s, b) => s + b.length, 0) }

  /** The RPC process went away (or the pipe broke there): every later call fails with `e`. */
  fail (e: RpcPipeError): void {
    this.broken ??= e
    const w = this.waiter
    this.waiter = undefined
    w?.reject(e)
  }

  queue (message: Buffer): void { this.out.push(message) }

  async write (data: Buffer): Promise<number> {
    const run = this.tail.then(async () => await this.writeNow(data))
    this.tail = run.catch(() => {})
    return await run
  }

  private async writeNow (data: Buffer): Promise<number> {
    for (let off = 0; off < data.length || off === 0; off += IPC_MAX_PAYLOAD) {
      if (this.broken !== undefined) throw this.broken
      const done = new Promise<IpcFrame>((resolve, reject) => { this.waiter = { resolve, reject } })
      this.child.send(IpcType.DATA_IN, this.handle, data.subarray(off, off + IPC_MAX_PAYLOAD))
      // An RPC process that sits on a write that long hangs: it is killed (and restarted).
      const t = setTimeout(() => { this.child.hung(this) }, CALL_TIMEOUT_MS)
      const f = await done.finally(() => { clearTimeout(t) })
      if ((decodeU32(f.payload) & DONE_BROKEN) !== 0) this.broken ??= new RpcPipeError('SMBTS_ERR_RPC_PIPE_BROKEN', 'pipe is broken')
      if (data.length === 0) break
    }
    return data.length
  }

  read (maxLength: number): PipeRead | undefined {
    if (this.out.length === 0) {
      if (this.broken !== undefined) throw this.broken
      return undefined
    }
    return takeQueued(this.out, maxLength)
  }

  async transact (input: Buffer, maxOutput: number): Promise<PipeRead> {
    return await transactPipe(this, this.out.length, input, maxOutput)
  }

  close (): void {
    this.out.length = 0
    if (this.broken === undefined) this.child.closePipe(this)
    this.broken ??= new RpcPipeError('SMBTS_ERR_RPC_PIPE_BROKEN', 'pipe is closed')
  }
}

/** One running RPC process: its socket, its pipes, the opens waiting for it. */
class Child {
  readonly pipes = new Map<number, RemotePipe>()
  readonly opening = new Map<number, Waiter>()
  /** Questions being answered. */
  asking = 0
  private readonly decoder = new IpcDecoder()
  hello: IpcHello | undefined
  dead = false

  constructor (readonly proc: ChildProcess, readonly sock: Socket, readonly startedAt: number, private readonly host: RpcHost, private root: string | null) {}

  /** Removes the (empty) directory the child is chrooted in, once it is in or gone. */
  removeRoot (): void {
    if (this.root === null) return
    try { rmdirSync(this.root) } catch { /* already gone */ }
    this.root = null
  }

  send (type: number, id: number, payload?: Buffer): void {
    if (this.dead) return
    this.sock.write(encodeFrame(type, id, payload))
  }

  hung (p: RemotePipe): void {
    this.host.misbehaved(this, `no answer on pipe ${p.name} for ${CALL_TIMEOUT_MS / 1000} s`)
  }

  closePipe (p: RemotePipe): void {
    this.pipes.delete(p.handle)
    this.send(IpcType.CLOSE, p.handle)
  }

  /** Bytes from the RPC process. A frame that does not decode, or says what it may not, kills it. */
  onData (chunk: Buffer): void {
    let frames: IpcFrame[]
    try {
      frames = this.decoder.push(chunk)
      for (const f of frames) this.onFrame(f)
    } catch (e) {
      if (!(e instanceof IpcWireError)) throw e
      this.host.misbehaved(this, e.message)
    }
  }

  private onFrame (f: IpcFrame): void {
    if (this.hello === undefined && f.type !== IpcType.HELLO) throw new IpcWireError(`message ${f.type} before HELLO`)
    switch (f.type) {
      case IpcType.HELLO: {
        if (this.hello !== undefined) throw new IpcWireError('a second HELLO')
        const h = decodeJson(f.payload)
        if (!isIpcHello(h)) throw new IpcWireError('HELLO of the wrong shape')
        this.hello = h
        this.host.onHello(this, h)
        return
      }
      case IpcType.OPEN_REPLY: {
        const w = this.opening.get(f.id)
        if (w === undefined) throw new IpcWireError(`OPEN_REPLY for handle ${f.id}, not being opened`)
        this.opening.delete(f.id)
        w.resolve(f)
        return
      }
      case IpcType.DATA_OUT:
      case IpcType.DATA_DONE: {
        const p = this.pipes.get(f.id)
        // A pipe closed while its write was in flight: the answer has no one to go to.
        if (p === undefined) return
        if (p.waiter === undefined) throw new IpcWireError(`${f.type === IpcType.DATA_OUT ? 'DATA_OUT' : 'DATA_DONE'} for handle ${f.id} with no write in flight`)
        if (f.type === IpcType.DATA_OUT) {
          if (p.pendingBytes + f.payload.length > MAX_PENDING_OUT) throw new IpcWireError(`more than ${MAX_PENDING_OUT} bytes of answers on pipe ${p.name}`)
          p.queue(f.payload)
          return
        }
        decodeU32(f.payload)
        const w = p.waiter
        p.waiter = undefined
        w.resolve(f)
        return
      }
      case IpcType.ASK:
        this.host.answer(this, f)
        return
      case IpcType.LOG: {
        if (f.payload.length < 1) throw new IpcWireError('LOG without a level')
        this.host.childLog(f.payload[0], f.payload.toString('utf8', 1, Math.min(f.payload.length, 4097)))
        return
      }
      default:
        throw new IpcWireError(`message type ${f.type} is not the RPC process's to send`)
    }
  }
}

export interface RpcHostOptions {
  /** The data plane's answers to the RPC process's questions. */
  env: RpcEnv
  log: Logger
  /** The command to run (tests); default: child.js beside this file. */
  command?: { file: string, args: string[] }
  /** Test hook: the ids to drop to; default unprivilegedIds(). */
  ids?: { uid: number, gid: number }
}

/** Starts, feeds and supervises the RPC process. */
export class RpcHost implements PipeService {
  private child: Child | undefined
  private nextHandle = 1
  private closing = false
  private quickDeaths = 0
  private restartTimer: NodeJS.Timeout | undefined
  private readyWaiters: Array<(ok: boolean) => void> = []
  private readonly ids: { uid: number, gid: number }
  /** RPC processes started so far (1 after the first start). */
  generation = 0

  constructor (private readonly opts: RpcHostOptions) {
    this.ids = opts.ids ?? unprivilegedIds()
  }

  /** The running RPC process's pid (undefined while none runs). */
  get pid (): number | undefined { return this.child?.dead === false ? this.child.proc.pid : undefined }
  /** What the running RPC process said of itself. */
  get hello (): IpcHello | undefined { return this.child?.dead === false ? this.child.hello : undefined }

  start (): void {
    if (this.closing || (this.child !== undefined && !this.child.dead)) return
    this.generation++
    // As root the child shuts itself in an empty directory of its own. The child removes it once
    // inside, before its chroot (native/src/privs.c): it stays the child's root, deleted, so
    // nothing can ever be created there, and nothing is left behind when this process is killed
    // first. A child that dies before that leaves it to Child.removeRoot here.
    const root = process.getuid?.() === 0 ? mkdtempSync(join(tmpdir(), 'smbts-rpc-root-')) : null
    const cmd = this.opts.command ?? defaultCommand()
    const spec: RpcChildSpec = { uid: this.ids.uid, gid: this.ids.gid, root }
    // Without the addon the child cannot drop privileges itself: libuv does the uid/gid part.
    const byLibuv = process.getuid?.() === 0 && !nativeAvailable ? { uid: this.ids.uid, gid: this.ids.gid } : {}
    const proc = spawn(cmd.file, cmd.args, {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [RPC_CHILD_ENV]: JSON.stringify(spec) },
      ...byLibuv,
    })
    const sock = proc.stdio[3] as Socket
    const child = new Child(proc, sock, Date.now(), this, root)
    this.child = child
    sock.on('data', (b: Buffer) => { child.onData(b) })
    sock.on('error', () => { /* the exit below says it */ })
    proc.on('error', (e) => { this.onExit(child, `could not start: ${e.message}`) })
    proc.on('exit', (code, signal) => { this.onExit(child, signal !== null ? `was killed by ${signal}` : `exited with code ${code ?? '?'}`) })
  }

  /** Resolves when an RPC process has said HELLO (at once if one has), or after START_WAIT_MS. */
  async ready (ms = START_WAIT_MS): Promise<boolean> {
    if (this.hello !== undefined) return true
    if (this.closing) return false
    return await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => { resolve(false) }, ms)
      this.readyWaiters.push((ok) => { clearTimeout(t); resolve(ok) })
    })
  }

  /** A pipe of the RPC process, started at the first open (and restarted after a death). */
  async open (name: string, user: string): Promise<PipeHandle | undefined> {
    if (this.generation === 0) this.start()
    if (!await this.ready()) throw new RpcPipeError('SMBTS_ERR_RPC_PIPE_BROKEN', 'the RPC service is not running')
    const child = this.child
    if (child === undefined) throw new RpcPipeError('SMBTS_ERR_RPC_SERVICE_DIED', 'the RPC process is restarting')
    // No pipe has a name that long; the message format carries strings of up to 1 KiB.
    if (Buffer.byteLength(name) > 256) return undefined
    user = user.slice(0, 256)
    const handle = this.nextHandle++ >>> 0
    const reply = await new Promise<IpcFrame>((resolve, reject) => {
      child.opening.set(handle, { resolve, reject })
      child.send(IpcType.OPEN, handle, encodeStrings(name, user))
    })
    let status: number
    let canonical: string
    try {
      status = decodeU32(reply.payload)
      ;[canonical] = decodeStrings(reply.payload, 1, 4)
    } catch (e) {
      this.misbehaved(child, `OPEN_REPLY: ${(e as Error).message}`)
      throw new RpcPipeError('SMBTS_ERR_RPC_SERVICE_DIED', 'the RPC process answered nonsense')
    }
    if (status !== OpenStatus.OK) return undefined
    const p = new RemotePipe(canonical, handle, child)
    child.pipes.set(handle, p)
    return p
  }

  onHello (child: Child, h: IpcHello): void {
    child.removeRoot()
    if (child !== this.child) return
    const privs = `uid ${h.uid}, gid ${h.gid}, ${h.chrooted ? 'chrooted to an empty directory' : 'no chroot'}, no_new_privs ${h.noNewPrivs ? 'on' : 'off'}, seccomp ${h.seccomp ? 'on' : 'off'}, capabilities ${h.capEffective === 0 ? 'none' : '0x' + h.capEffective.toString(16)}`
    this.opts.log.info(`rpc: RPC process started (pid ${h.pid}, generation ${this.generation}): ${privs}${h.note !== undefined ? ` (${h.note})` : ''}`)
    const ws = this.readyWaiters
    this.readyWaiters = []
    for (const w of ws) w(true)
  }

  /** The RPC process broke the protocol (or hangs): it is killed, its pipes fail, another starts. */
  misbehaved (child: Child, why: string): void {
    if (child.dead) return
    this.opts.log.error(`rpc: RPC process (pid ${child.proc.pid ?? '?'}) ${why}: killing it`)
    child.proc.kill('SIGKILL')
    this.onExit(child, `was killed (${why})`)
  }

  childLog (level: number, text: string): void {
    const log = this.opts.log
    const line = `rpc: ${text}`
    if (level === IpcLogLevel.ERROR) log.error(line)
    else if (level === IpcLogLevel.WARN) log.warn(line)
    else if (level === IpcLogLevel.INFO) log.info(line)
    else if (log.wants('ipc')) log.debug('ipc', line)
  }

  answer (child: Child, f: IpcFrame): void {
    let q: unknown
    try { q = decodeJson(f.payload) } catch (e) { this.misbehaved(child, (e as Error).message); return }
    if (child.asking >= MAX_QUESTIONS) { this.misbehaved(child, `more than ${MAX_QUESTIONS} questions at once`); return }
    child.asking++
    answerQuestion(this.opts.env, q).then(
      (a) => {
        child.asking--
        const payload = encodeJson({ answer: a })
        child.send(IpcType.ANSWER, f.id, payload.length <= IPC_MAX_PAYLOAD ? payload : encodeJson({ error: `the answer (${payload.length} bytes) is larger than a frame` }))
      },
      (e: unknown) => {
        child.asking--
        if (this.opts.log.wants('ipc')) this.opts.log.debug('ipc', `rpc: question refused: ${(e as Error).message}`)
        child.send(IpcType.ANSWER, f.id, encodeJson({ error: (e as Error).message }))
      })
  }

  private onExit (child: Child, how: string): void {
    if (child.dead) return
    child.dead = true
    child.sock.destroy()
    child.removeRoot()
    const broken = new RpcPipeError('SMBTS_ERR_RPC_SERVICE_DIED', `the RPC process ${how}`)
    const n = child.pipes.size
    for (const p of child.pipes.values()) p.fail(broken)
    for (const w of child.opening.values()) w.reject(broken)
    child.pipes.clear()
    child.opening.clear()
    if (this.child === child) this.child = undefined
    if (this.closing) return
    this.quickDeaths = Date.now() - child.startedAt < HEALTHY_MS ? this.quickDeaths + 1 : 0
    const delay = this.quickDeaths <= 1 ? 0 : Math.min(RESTART_DELAY_MAX_MS, 100 * 2 ** (this.quickDeaths - 2))
    this.opts.log.warn(`rpc: RPC process (pid ${child.proc.pid ?? '?'}) ${how}; ${n} open pipe${n === 1 ? '' : 's'} broken; restarting it${delay > 0 ? ` in ${delay} ms (it died ${this.quickDeaths} times in a row within ${HEALTHY_MS / 1000} s of its start)` : ''}`)
    this.restartTimer = setTimeout(() => { this.restartTimer = undefined; this.start() }, delay)
  }

  async close (): Promise<void> {
    this.closing = true
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer)
    const c = this.child
    if (c !== undefined && !c.dead) {
      const exited = new Promise<void>((resolve) => { c.proc.once('exit', () => { resolve() }) })
      c.removeRoot()
      c.sock.end()
      const t = setTimeout(() => { c.proc.kill('SIGKILL') }, 2000)
      await exited
      clearTimeout(t)
    }
    for (const w of this.readyWaiters) w(false)
    this.readyWaiters = []
  }
}
