// `smbts worker` (hidden): one worker of a supervisor (src/cli/start.ts with --workers N). It is
// a whole server — startServer, its own ring — that serves the listening sockets it inherited
// instead of binding, logs with its tag (`[w0]`), and takes its orders over the IPC channel:
// reload, shut down, and the supervisor's events about the other workers, handed to its
// messenger's handlers. It never outlives its supervisor: the channel closing is a shutdown.
// SIGINT and SIGHUP are the supervisor's to act on (a terminal's ^C reaches the whole process
// group); SIGTERM stops this worker alone, and the supervisor restarts its slot.
import type { Command } from 'commander'
import { tagLines } from '../control/log.js'
import { eventChannel, requestChannel } from '../control/channels.js'
import { DebugSwitch, parseDebugList } from '../control/debug.js'
import { Messenger, SUPERVISOR_SLOT } from '../transport/messenger.js'
import { decodeWorkerSpec, workerTag, WORKER_ENV, type FromWorker, type ToWorker, type WorkerContext, type WorkerSpec } from '../transport/worker.js'
import { CliError, errorMessage, type CliIO } from './io.js'
import { importStartServer, type ServerHandle, type StartServerFn } from './start.js'

export interface WorkerDeps {
  startServer?: StartServerFn
  env?: NodeJS.ProcessEnv
}

/**
 * Runs this process as the worker WORKER_ENV describes; resolves with the exit status once it
 * has stopped. A failure after the spec is read is logged with the worker's tag, as its other lines.
 */
export async function runWorker (io: CliIO, deps: WorkerDeps = {}): Promise<number> {
  const send = process.send?.bind(process)
  if (send === undefined) throw new CliError('the worker command runs under a supervisor (smbts start --workers N), not by hand')
  let spec
  try {
    spec = decodeWorkerSpec((deps.env ?? process.env)[WORKER_ENV])
  } catch (e) {
    throw new CliError(errorMessage(e))
  }
  const log = tagLines(workerTag(spec.slot), (line) => { io.err(line) })
  try {
    await serve(spec, log, send, deps)
    return 0
  } catch (e) {
    log(`smbts: ${errorMessage(e)}`)
    return 1
  }
}

async function serve (spec: WorkerSpec, log: (line: string) => void, send: (m: FromWorker) => boolean, deps: WorkerDeps): Promise<void> {
  process.on('SIGINT', () => {})
  process.on('SIGHUP', () => {})
  // Orders that come before the server is up wait for it (a shutdown then stops it at once).
  const early: ToWorker[] = []
  let stopping = false
  let onOrder = (m: ToWorker): void => { early.push(m) }
  const onMessage = (m: ToWorker): void => { onOrder(m) }
  process.on('message', onMessage)
  const say = (line: string): void => { log(`${new Date().toISOString()} info ${line}`) }
  process.on('SIGTERM', () => { say('SIGTERM: shutting down (unless the supervisor is stopping too, as when the whole process group is signalled, it starts this slot again)'); onOrder({ smbts: 'shutdown' }) })
  process.on('disconnect', () => { if (!stopping) say('the supervisor is gone: shutting down'); onOrder({ smbts: 'shutdown' }) })

  const messenger = await Messenger.listen({
    runDir: spec.runDir,
    slot: spec.slot,
    log: (level, line) => { if (level === 'warn' || process.env.SMBTS_DEBUG?.split(',').includes('ipc') === true) log(`${new Date().toISOString()} ${level === 'warn' ? 'warn' : 'debug[ipc]'} ${line}`) },
  })
  const worker: WorkerContext = { slot: spec.slot, generation: spec.generation, count: spec.count, runDir: spec.runDir, messenger, store: spec.store, live: spec.live }
  const startServer = deps.startServer ?? await importStartServer()
  let server: ServerHandle
  try {
    server = await startServer({ ...spec.server, listenFds: spec.listen, worker, log })
  } catch (e) {
    await messenger.close()
    throw e
  }

  const reply = (m: FromWorker): void => { if (process.connected) send(m) }
  // The control mount is the supervisor's: it turns debug components on here, asks for this
  // worker's numbers, and while someone reads its trace or events, gets ours.
  const debug = new DebugSwitch(log)
  debug.set(parseDebugList(process.env.SMBTS_DEBUG).components)
  const forwardRequest = (data: unknown): void => { reply({ smbts: 'published', channel: 'request', data }) }
  const forwardEvent = (data: unknown): void => { reply({ smbts: 'published', channel: 'event', data: { ...(data as object), worker: spec.slot } }) }
  let watching = { requests: false, events: false }
  const watch = (w: { requests: boolean, events: boolean }): void => {
    if (w.requests !== watching.requests) {
      if (w.requests) requestChannel.subscribe(forwardRequest)
      else requestChannel.unsubscribe(forwardRequest)
    }
    if (w.events !== watching.events) {
      if (w.events) eventChannel.subscribe(forwardEvent)
      else eventChannel.unsubscribe(forwardEvent)
    }
    watching = { requests: w.requests, events: w.events }
  }
  await new Promise<void>((resolve, reject) => {
    let closing = false
    onOrder = (m) => {
      switch (m?.smbts) {
        case 'shutdown':
          if (closing) return
          closing = true
          stopping = true
          watch({ requests: false, events: false })
          debug.close()
          server.close().then(() => messenger.close()).then(resolve, (e: unknown) => { reject(e instanceof Error ? e : new Error(String(e))) })
          break
        case 'reload':
          if (server.reload === undefined || closing) break
          Promise.resolve().then(() => server.reload!()).then(
            () => { reply({ smbts: 'reloaded' }) },
            (e: unknown) => { reply({ smbts: 'reloaded', error: errorMessage(e) }) })
          break
        case 'event':
          messenger.dispatch(m.event, SUPERVISOR_SLOT)
          break
        case 'debug':
          debug.set(m.components)
          break
        case 'watch':
          if (!closing) watch(m)
          break
        case 'collect':
          reply({ smbts: 'collected', id: m.id, data: m.kind === 'stats' ? server.statsSnapshot?.() : server.statusSlice?.() })
          break
      }
    }
    const transport = (server as { io?: { transport?: string } }).io?.transport ?? 'unknown transport'
    reply({ smbts: 'ready', port: spec.listen[0]!.port, transport })
    for (const m of early.splice(0)) onOrder(m)
  })
  process.off('message', onMessage)
}

export function registerWorker (program: Command, io: CliIO): void {
  program.command('worker', { hidden: true })
    .description('one worker process of a supervisor (started by smbts start --workers N)')
    .action(async () => {
      process.exit(await runWorker(io))
    })
}
