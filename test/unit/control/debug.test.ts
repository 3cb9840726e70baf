// The debug file's text and write syntax (ksmbd's), and the switch that subscribes the log to
// the components' diagnostics channels.
import t from 'tap'
import { applyDebugWrite, DebugSwitch, parseDebugList, renderDebug } from '../../../src/control/debug.js'
import { debugChannels, DEBUG_COMPONENTS, type DebugComponent } from '../../../src/control/channels.js'
import { createLogger } from '../../../src/control/log.js'

t.test('renderDebug: every component and a space, enabled ones in brackets, a newline', async (t) => {
  t.equal(renderDebug(new Set()), 'smb auth vfs oplock ipc conn rdma \n')
  t.equal(renderDebug(new Set<DebugComponent>(['smb', 'rdma'])), '[smb] auth vfs oplock ipc conn [rdma] \n')
})

t.test('applyDebugWrite: toggles, all, unknown names', async (t) => {
  let s = applyDebugWrite(new Set(), 'smb\n')
  t.same([...s], ['smb'])
  s = applyDebugWrite(s, 'smb')
  t.same([...s], [], 'a second write toggles it off')
  s = applyDebugWrite(new Set<DebugComponent>(['vfs']), 'all\n')
  t.same([...s].sort(), [...DEBUG_COMPONENTS].sort(), 'all: every one on when not all were')
  s = applyDebugWrite(s, 'all')
  t.same([...s], [], 'all again: every one off')
  t.throws(() => applyDebugWrite(new Set(), 'bogus\n'), { code: 'SMBTS_ERR_DEBUG_COMPONENT', message: /unknown debug component 'bogus'/ })
  t.throws(() => applyDebugWrite(new Set(), ''), { code: 'SMBTS_ERR_DEBUG_COMPONENT' })
  t.same(parseDebugList('smb, conn,,nope'), { components: ['smb', 'conn'], unknown: ['nope'] })
})

t.test('DebugSwitch: on subscribes the log to the channel; off, nothing listens', async (t) => {
  const lines: string[] = []
  const log = createLogger(() => {})
  const sw = new DebugSwitch((l) => { lines.push(l) })
  t.notOk(debugChannels.vfs.hasSubscribers)
  t.notOk(log.wants('vfs'), 'off: a caller builds nothing')
  sw.set(['vfs'])
  t.ok(log.wants('vfs'))
  log.debug('vfs', 'opened x')
  log.debug('smb', 'not this one')
  t.equal(lines.length, 1)
  t.match(lines[0], /^\d{4}-\d\d-\d\dT[\d:.]+Z debug\[vfs\] opened x$/)
  t.same([...sw.enabled], ['vfs'])
  sw.close()
  t.notOk(debugChannels.vfs.hasSubscribers, 'closed: unsubscribed')
  log.debug('vfs', 'after')
  t.equal(lines.length, 1)
})
