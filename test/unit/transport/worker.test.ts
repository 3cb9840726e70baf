// src/transport/worker.ts (the worker spec a supervisor hands over, where to listen) and the log
// tags of src/control/log.ts that name a worker's lines.
import t from 'tap'
import { decodeWorkerSpec, encodeWorkerSpec, listenHosts, workerTag, type WorkerSpec } from '../../../src/transport/worker.js'
import { createLogger, tagLines } from '../../../src/control/log.js'

const spec: WorkerSpec = {
  slot: 1, generation: 3, count: 2, runDir: '/run/smbts/workers-1-x',
  listen: [{ fd: 4, host: '::', port: 445 }, { fd: 5, host: '127.0.0.1', port: 445 }],
  server: { configPath: '/etc/smbts/smb.conf', useUring: true },
  store: '/run/smbts/workers-1-x/locking.db',
  live: [1, 3],
}

t.test('the spec round-trips; anything else is refused with the variable\'s name', async (t) => {
  t.same(decodeWorkerSpec(encodeWorkerSpec(spec)), spec)
  t.throws(() => decodeWorkerSpec(undefined), /SMBTS_WORKER is not set/)
  t.throws(() => decodeWorkerSpec('{'), /SMBTS_WORKER is not JSON/)
  for (const bad of [
    { ...spec, slot: 2 }, { ...spec, slot: -1 }, { ...spec, generation: 0 }, { ...spec, listen: [] },
    { ...spec, listen: [{ fd: 'x', host: '::', port: 1 }] }, { ...spec, server: { useUring: 'yes' } }, null, 7,
    { ...spec, live: [1] }, { ...spec, live: [1, -1] }, { ...spec, store: 5 },
  ]) {
    t.throws(() => decodeWorkerSpec(JSON.stringify(bad)), /SMBTS_WORKER is not a worker spec/, JSON.stringify(bad).slice(0, 60))
  }
})

t.test('listen addresses: the asked one, the interfaces when bound to them, else every one', async (t) => {
  t.same(listenHosts({ bindInterfacesOnly: true, interfaces: ['10.0.0.1'] }, '127.0.0.1'), ['127.0.0.1'])
  t.same(listenHosts({ bindInterfacesOnly: true, interfaces: ['10.0.0.1', '::1'] }), ['10.0.0.1', '::1'])
  t.same(listenHosts({ bindInterfacesOnly: false, interfaces: ['10.0.0.1'] }), ['::'])
  t.same(listenHosts({ bindInterfacesOnly: true, interfaces: [] }), ['::'])
  // Samba's per-interface options (the multichannel interface list's) are not part of the address.
  t.same(listenHosts({ bindInterfacesOnly: true, interfaces: ['10.0.0.1;speed=10000000000,capability=RSS'] }), ['10.0.0.1'])
})

t.test('tagged lines: after the timestamp, or in front of a line without one', async (t) => {
  const lines: string[] = []
  const log = createLogger(tagLines(workerTag(3), (l) => { lines.push(l) }), ['conn'])
  log.info('ready')
  log.debug('conn', 'connection from 127.0.0.3:4000')
  tagLines('sup', (l) => { lines.push(l) })('smbts: shutting down')
  t.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[w3\] info ready$/)
  t.match(lines[1], /^\S+Z \[w3\] debug\[conn\] connection from 127\.0\.0\.3:4000$/)
  t.equal(lines[2], '[sup] smbts: shutting down')
})
