// Changes made on the server's disk by other programs (src/vfs/local-changes.ts): the records the
// addon hands over, which of them concern which open file, and (where fanotify is allowed) a real
// write by another process reported while one by this process is not.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, openSync, closeSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeFanRecords, FAN, LocalChangeWatcher } from '../../../src/vfs/local-changes.js'
import { nativeAvailable } from '../../../src/io/native.js'

const record = (ino: bigint, mask: number, pid: number): Buffer => {
  const b = Buffer.alloc(32)
  b.writeBigUInt64LE(2049n, 0)
  b.writeBigUInt64LE(ino, 8)
  b.writeBigUInt64LE(BigInt(mask) | (1n << 40n), 16) // a high flag bit is not an event bit
  b.writeUInt32LE(pid, 24)
  return b
}

t.test('records: fixed 32 bytes, the mask\'s low 32 bits, a torn tail dropped', async (t) => {
  const r = decodeFanRecords(Buffer.concat([record(7n, FAN.MODIFY, 1234), record(0n, FAN.Q_OVERFLOW, 0), Buffer.alloc(5)]))
  t.same(r, [{ dev: 2049n, ino: 7n, mask: FAN.MODIFY, pid: 1234 }, { dev: 2049n, ino: 0n, mask: FAN.Q_OVERFLOW, pid: 0 }])
})

t.test('which opens a batch concerns: another process\'s writes to a marked inode; an overflow, all', async (t) => {
  const w = new LocalChangeWatcher({ onChange () {}, onUnavailable () {}, selfPid: 100 })
  // Marks need a real descriptor: without fanotify here, the decision is tested on its own below.
  const keys = (w as unknown as { byIno: Map<bigint, Map<string, number>> }).byIno
  keys.set(7n, new Map([['a\u00007', 1], ['b\u00007', 2]]))
  keys.set(8n, new Map([['a\u00008', 1]]))
  t.same(w.changedKeys(decodeFanRecords(record(7n, FAN.MODIFY, 200))).sort(), ['a\u00007', 'b\u00007'], 'both shares\' keys of the inode')
  t.same(w.changedKeys(decodeFanRecords(record(7n, FAN.MODIFY, 100))), [], 'this process\'s own write')
  t.same(w.changedKeys(decodeFanRecords(record(9n, FAN.MODIFY, 200))), [], 'an inode not marked')
  t.same(w.changedKeys(decodeFanRecords(Buffer.concat([record(8n, FAN.MODIFY, 200), record(8n, FAN.MODIFY, 201)]))), ['a\u00008'], 'each key once per batch')
  t.same(w.changedKeys(decodeFanRecords(record(0n, FAN.Q_OVERFLOW, 0))).sort(), ['a\u00007', 'a\u00008', 'b\u00007'], 'lost events: every marked file')
})

/** Why fanotify marks cannot be made here (no addon, no CAP_SYS_ADMIN), or false when they can. */
function fanotifyWhyNot (): string | false {
  if (!nativeAvailable) return 'the native addon is not built'
  let why: string | undefined
  const w = new LocalChangeWatcher({ onChange () {}, onUnavailable: (r) => { why = r } })
  const fd = openSync(tmpdir(), 'r')
  try {
    w.watch(fd, 1n, 'probe')?.()
  } finally {
    closeSync(fd)
    w.close()
  }
  return why !== undefined ? `fanotify is not allowed here: ${why}` : false
}

t.test('a real mark: a write by another process is reported, one by this process is not, none after the unmark', { skip: fanotifyWhyNot() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-fan-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'f.txt')
  writeFileSync(file, 'start')
  const fd = openSync(file, 'r')
  t.teardown(() => { closeSync(fd) })
  const changed: string[] = []
  let unavailable: string | undefined
  const w = new LocalChangeWatcher({ onChange: (k) => { changed.push(k) }, onUnavailable: (why) => { unavailable = why } })
  t.teardown(() => { w.close() })
  const key = `share\u0000${statSync(file).ino}`
  const unwatch = w.watch(fd, BigInt(statSync(file).ino), key)
  t.ok(unwatch !== undefined, `marked (${unavailable ?? ''})`)
  const settle = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 100)) }
  writeFileSync(file, 'this process')
  await settle()
  t.same(changed, [], 'this process\'s own write is not reported')
  execFileSync('sh', ['-c', `echo another >> '${file}'`])
  await settle()
  t.same(changed, [key], 'another program\'s write is')
  unwatch?.()
  t.equal(w.marked, 0, 'unmarked')
  changed.length = 0
  execFileSync('sh', ['-c', `echo again >> '${file}'`])
  await settle()
  t.same(changed, [], 'nothing after the unmark')
})
