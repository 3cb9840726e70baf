// Persistent handles through the whole server in memory (MS-SMB2 3.3.5.9.10 with
// SMB2_DHANDLE_FLAG_PERSISTENT, 3.3.5.9.12; src/session/persistent.ts): which opens are
// persistent (a continuously available share, SMB 3.x, a file), their record written, rewritten
// and removed, and a fresh server object restoring them from the records (share mode, lock,
// lease, FileIds) as a restarted smbts does. The restart of the real program under a real client
// is test/interop/persistent-handles.test.ts.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { contextsOf, createBody, Disposition, fileIdOf, MemClient, memServer, readData, writeBody, type MemServer, type Resp } from '../helpers/mem-client.js'
import { ServerState } from '../../src/session/server-state.js'
import { openPersistentStore, restorePersistent } from '../../src/session/persistent.js'
import { parseRecord, PersistentStore } from '../../src/session/persistent-store.js'
import { createLogger } from '../../src/control/log.js'
import { fileKey } from '../../src/locking/share-modes.js'
import { startServer } from '../../src/server.js'
import { nativeAvailable } from '../../src/io/native.js'
import { statusSlice } from '../../src/control/status.js'
import { makeTestShare } from '../helpers/test-share.js'

const BATCH = 0x09
const LEASE = 0xff
const PERSISTENT = 0x2
const SHARING_VIOLATION = 0xc0000043
const LOCK_NOT_GRANTED = 0xc0000055
const FILE_LOCK_CONFLICT = 0xc0000054
const NOT_FOUND = 0xc0000034
const FILE_NOT_AVAILABLE = 0xc0000467
/** SMB2_FLAGS_REPLAY_OPERATION. */
const REPLAY = 0x20000000
const settle = (ms = 20): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function dh2q (createGuid: Buffer, flags = PERSISTENT, timeout = 0): { name: string, data: Buffer } {
  const d = Buffer.alloc(32)
  d.writeUInt32LE(timeout, 0)
  d.writeUInt32LE(flags, 4)
  createGuid.copy(d, 16)
  return { name: 'DH2Q', data: d }
}
function dh2c (fid: { persistent: bigint, volatile: bigint }, createGuid: Buffer, flags = PERSISTENT): { name: string, data: Buffer } {
  const d = Buffer.alloc(36)
  d.writeBigUInt64LE(fid.persistent, 0); d.writeBigUInt64LE(fid.volatile, 8)
  createGuid.copy(d, 16)
  d.writeUInt32LE(flags, 32)
  return { name: 'DH2C', data: d }
}

/** FILE_RENAME_INFORMATION (SMB2 form): ReplaceIfExists, reserved, RootDirectory, the name. */
function renameInfo (name: string): Buffer {
  const n = Buffer.from(name, 'utf16le')
  const b = Buffer.alloc(20 + n.length)
  b.writeUInt32LE(n.length, 16)
  n.copy(b, 20)
  return b
}

interface Ca { srv: MemServer, dir: string }

/** A server whose share is continuously available, its records in a temporary directory. */
function caServer (t: { teardown: (fn: () => void) => void }, o: { ca?: boolean, global?: string[], backend?: 'posix' } = {}): Ca {
  const dir = join(mkdtempSync(join(tmpdir(), 'smbts-persist-')), 'records')
  const srv = memServer({ log: true, backend: o.backend, global: [`persistent handle directory = ${dir}`, ...o.global ?? []], shareLines: [`continuous availability = ${o.ca === false ? 'no' : 'yes'}`] })
  srv.state.persistent = openPersistentStore(srv.state)
  t.teardown(() => { srv.cleanup(); rmSync(join(dir, '..'), { recursive: true, force: true }) })
  return { srv, dir }
}

/** The record files holding an open (a closed open's file stays, marked free, for the next one). */
const records = (dir: string): string[] => readdirSync(dir).filter(n => n.endsWith('.rec') && !PersistentStore.isFree(readFileSync(join(dir, n), 'utf8')))
const recordIn = (dir: string): ReturnType<typeof parseRecord> => parseRecord(readFileSync(join(dir, records(dir)[0]!), 'utf8'))

/** The same client machine (ClientGuid) on a new connection to `state`: how it comes back after a restart. */
async function sameClient (state: ServerState, a: MemClient, name = 'mem:c'): Promise<MemClient> {
  const c = new MemClient(state, name)
  c.clientGuid = a.clientGuid
  return await c.connect({ dialect: 0x0300 })
}

/** A fresh server object on the same files and records: what a restart of the process starts from. */
async function restart (ca: Ca): Promise<{ state: ServerState, logs: string[] }> {
  const logs: string[] = []
  const old = ca.srv.state
  const state = new ServerState(old.config, old.accounts, old.backend, createLogger((l) => { logs.push(l) }, ['vfs']))
  state.persistent = openPersistentStore(state)
  await restorePersistent(state)
  return { state, logs }
}

t.test('NEGOTIATE and TREE_CONNECT say so; DH2Q PERSISTENT on a CA share over 3.x: persistent whatever the oplock', async (t) => {
  const { srv, dir } = caServer(t)
  const a = new MemClient(srv.state, 'mem:a')
  const n = await a.negotiate({ dialects: [0x0300] })
  t.ok((n.body.readUInt32LE(24) & 0x10) !== 0, 'SMB2_GLOBAL_CAP_PERSISTENT_HANDLES')
  await a.login({})
  const tc = await a.treeConnect('share')
  t.equal(tc.body.readUInt32LE(8) & 0x10, 0x10, 'SMB2_SHARE_CAP_CONTINUOUS_AVAILABILITY')
  t.equal(statSync(dir).mode & 0o777, 0o700, 'the record directory is the owner\'s only')
  const r = await a.create('p.txt', { contexts: [dh2q(randomBytes(16))] })
  t.equal(r.status, 0)
  t.equal(r.body[2], 0, 'no oplock')
  const ctx = contextsOf(r).get('DH2Q')
  t.ok(ctx !== undefined, 'durable even with no oplock')
  t.equal(ctx?.readUInt32LE(4), PERSISTENT, 'Flags: PERSISTENT')
  t.equal(records(dir).length, 1, 'a record is written at the grant')
  t.match(records(dir)[0], /^w0-\d+\.rec$/, 'named by the worker slot')
  t.equal(statSync(join(dir, records(dir)[0]!)).mode & 0o777, 0o600, 'owner-only record')
  const rec = recordIn(dir)
  t.equal(rec.path, 'p.txt')
  t.equal(rec.clientGuid, a.clientGuid.toString('hex'))
  t.equal(rec.fid, fileIdOf(r).persistent.toString())
  t.equal((await a.close(fileIdOf(r))).status, 0)
  t.same(records(dir), [], 'the close frees it')
  t.equal(readdirSync(dir).length, 1, '...and the file stays for the next one')
  const plain = await a.create('q.txt', { oplock: BATCH, contexts: [dh2q(randomBytes(16), 0)] })
  t.equal(contextsOf(plain).get('DH2Q')?.readUInt32LE(4), 0, 'not asked persistent: durable only')
  t.same(records(dir), [])
  const d = await a.create('dir1', { disposition: Disposition.CREATE, options: 0x1, contexts: [dh2q(randomBytes(16))] })
  t.equal(d.status, 0)
  t.notOk(contextsOf(d).has('DH2Q'), 'a directory is never persistent (nor durable)')
})

t.test('refused persistence: a share not CA, SMB 2.1, durable handles = no', async (t) => {
  const { srv, dir } = caServer(t, { ca: false })
  t.equal(srv.state.persistent, undefined, 'no CA share: no record directory')
  const a = await new MemClient(srv.state, 'mem:a').connect({ dialect: 0x0300 })
  const r = await a.create('p.txt', { oplock: BATCH, contexts: [dh2q(randomBytes(16))] })
  t.equal(contextsOf(r).get('DH2Q')?.readUInt32LE(4), 0, 'not CA: durable only (batch)')
  t.throws(() => readdirSync(dir), 'nothing written')

  const ca = caServer(t)
  const b = new MemClient(ca.srv.state, 'mem:b')
  const n = await b.negotiate({ dialects: [0x0210] })
  t.equal(n.body.readUInt32LE(24) & 0x10, 0, 'no PERSISTENT_HANDLES capability on 2.1')
  await b.login({})
  t.equal((await b.treeConnect('share')).body.readUInt32LE(8) & 0x10, 0, 'no CA capability on 2.1')
  const r2 = await b.create('x.txt', { oplock: BATCH, contexts: [dh2q(randomBytes(16))] })
  t.notOk(contextsOf(r2).has('DH2Q'), 'DH2Q means nothing on 2.1')
  t.same(records(ca.dir), [])

  // The record cannot be written (its directory went): durable only, or nothing, and a warning.
  const gone = caServer(t)
  rmSync(gone.dir, { recursive: true, force: true })
  const g = await new MemClient(gone.srv.state, 'mem:g').connect({ dialect: 0x0300 })
  const nb = await g.create('n.txt', { contexts: [dh2q(randomBytes(16))] })
  t.equal(nb.status, 0)
  t.notOk(contextsOf(nb).has('DH2Q'), 'no record, no oplock: not durable')
  const wb = await g.create('b.txt', { oplock: BATCH, contexts: [dh2q(randomBytes(16))] })
  t.equal(contextsOf(wb).get('DH2Q')?.readUInt32LE(4), 0, 'no record, a batch oplock: durable only')
  t.ok(gone.srv.logs.some(l => /persistent handle share\/b\.txt .* its record could not be written/.test(l)), 'the log says why')

  const off = caServer(t, { global: ['durable handles = no'] })
  t.equal(off.srv.state.persistent, undefined, '`durable handles = no`: no persistent handles either')
})

t.test('the record follows the open: lock, unlock, rename, disposition, lease break, reconnect', async (t) => {
  const { srv, dir } = caServer(t)
  const a = await new MemClient(srv.state, 'mem:a').connect({ dialect: 0x0300 })
  const guid = randomBytes(16)
  const r = await a.create('r.txt', { lease: { key: Buffer.alloc(16, 7), state: 7 }, contexts: [dh2q(guid)] })
  t.equal(r.body[2], LEASE)
  const fid = fileIdOf(r)
  t.equal(recordIn(dir).lease?.state, 7, 'the lease RWH is recorded')
  t.equal((await a.lock(fid, [{ off: 10, len: 5, flags: 0x12 }])).status, 0)
  t.same(recordIn(dir).locks, [{ off: '10', len: '5', x: true }], 'the lock is recorded')
  t.equal((await a.lock(fid, [{ off: 10, len: 5, flags: 0x4 }])).status, 0)
  t.same(recordIn(dir).locks, [], 'the unlock too')
  t.equal((await a.setInfo(fid, 1, 10, renameInfo('renamed.txt'))).status, 0)
  t.equal(recordIn(dir).path, 'renamed.txt', 'a rename changes the recorded path')
  // Another client's open breaks the lease's W (and H, given its share mode); the ack is recorded.
  const b = await new MemClient(srv.state, 'mem:b').connect({ dialect: 0x0300 })
  const pending = b.create('renamed.txt', { access: 0x1, share: 0x7, disposition: Disposition.OPEN })
  await settle()
  const brk = await a.nextBreak()
  const newState = brk.msg.readUInt32LE(64 + 28)
  t.equal(newState, 3, 'a lease break to RH came')
  t.equal((await a.leaseAck(Buffer.alloc(16, 7), newState)).status, 0)
  const ob = await pending
  t.equal(ob.status, 0)
  t.equal(recordIn(dir).lease?.state, newState, 'the lease as acknowledged is recorded')
  await b.close(fileIdOf(ob))
  t.equal((await a.setInfo(fid, 1, 13, Buffer.from([1]))).status, 0)
  t.equal(recordIn(dir).deleteOnClose, true, 'delete on close is recorded')
  t.equal((await a.setInfo(fid, 1, 13, Buffer.from([0]))).status, 0)
  t.equal(recordIn(dir).deleteOnClose, false)
  // Lost connection, reconnect: the record stays, then names the reconnected open.
  a.conn.close('test: network gone')
  await settle()
  t.equal(records(dir).length, 1, 'a disconnect keeps the record')
  t.ok(srv.logs.some(l => /persistent handle share\/renamed\.txt .* kept for 60000 ms/.test(l)))
  const c = new MemClient(srv.state, 'mem:c')
  c.clientGuid = a.clientGuid
  await c.connect({ dialect: 0x0300 })
  const lease7 = { key: Buffer.alloc(16, 7), state: 7 }
  t.equal((await c.create('renamed.txt', { lease: lease7, contexts: [dh2c(fid, guid, 0)] })).status, NOT_FOUND, 'a DH2C without PERSISTENT does not reconnect a persistent open (3.3.5.9.12)')
  const re = await c.create('renamed.txt', { lease: lease7, contexts: [dh2c({ persistent: 0xdeadn, volatile: 0xdeadn }, guid)] })
  t.equal(re.status, 0, 'DH2C with PERSISTENT reconnects, found by its CreateGuid when the FileId names nothing')
  t.equal(fileIdOf(re).persistent, fid.persistent, 'the same FileId')
  t.equal(records(dir).length, 1)
  t.equal((await c.close(fileIdOf(re))).status, 0)
  t.same(records(dir), [], 'closed: no record')
})

t.test('a fresh server restores the records: share mode, lock, data, FileIds, DH2C reconnect', async (t) => {
  const ca = caServer(t)
  const a = await new MemClient(ca.srv.state, 'mem:a').connect({ dialect: 0x0300 })
  const guid = randomBytes(16)
  const r = await a.create('k.txt', { oplock: BATCH, share: 0x1, contexts: [dh2q(guid, PERSISTENT, 30_000)] })
  const fid = fileIdOf(r)
  t.equal((await a.write(fid, 0, Buffer.from('acknowledged before the kill'))).status, 0)
  t.equal((await a.lock(fid, [{ off: 0, len: 4, flags: 0x12 }])).status, 0)
  // The lease open of another file and a record for a file that is gone.
  const l = await a.create('lease.txt', { lease: { key: Buffer.alloc(16, 9), state: 7 }, contexts: [dh2q(randomBytes(16))] })
  t.equal(l.body[2], LEASE)
  const g = await a.create('gone.txt', { contexts: [dh2q(randomBytes(16))] })
  t.equal(g.status, 0)
  writeFileSync(join(ca.dir, 'w0-999.rec'), '{"v":1,')
  ca.srv.files.rm('gone.txt')

  // The process dies (nothing closed): a new server object starts from the records.
  const { state, logs } = await restart(ca)
  t.ok(logs.some(l => /persistent handles: 2 restored from .*, 2 dropped/.test(l)), 'the log counts them')
  t.ok(logs.some(l => /gone\.txt .* dropped: the file is gone/.test(l)), 'a file that is gone: dropped')
  t.ok(logs.some(l => /w0-999\.rec dropped: /.test(l)), 'a broken record: dropped')
  t.equal(state.durable.parkedCount, 2, 'two opens wait for their clients')
  t.same(statusSlice(state, []).opens.find(o => o.path === 'k.txt')?.durable, { version: 2, timeoutMs: 30000, resilient: false, disconnected: true, persistent: true }, 'status.json shows it persistent, waiting')
  const key = fileKey('share', ca.srv.files.ino('k.txt'))
  t.equal(state.locks.locksOf(key).length, 1, 'the lock is back in the store')
  t.equal(state.locks.leaseOf(fileKey('share', ca.srv.files.ino('lease.txt')), a.clientGuid.toString('hex') + Buffer.alloc(16, 9).toString('hex'))?.state, 7, 'the lease too')

  const other = await new MemClient(state, 'mem:o').connect({ dialect: 0x0300 })
  const w = await other.create('k.txt', { access: 0x2, disposition: Disposition.OPEN })
  t.equal(w.status, SHARING_VIOLATION, 'its share mode still refuses a writer')
  const n = await other.create('new.txt', {})
  t.ok(fileIdOf(n).persistent > fid.persistent, 'new FileIds start above the restored ones')

  const b = new MemClient(state, 'mem:b')
  b.clientGuid = a.clientGuid
  await b.connect({ dialect: 0x0300 })
  t.equal((await b.create('k.txt', { contexts: [dh2c(fid, randomBytes(16))] })).status, NOT_FOUND, 'another CreateGuid: not found')
  const re = await b.create('k.txt', { contexts: [dh2c(fid, guid)] })
  t.equal(re.status, 0, 'DH2C reconnects the restored open')
  t.equal(re.body[2], 0x01, 'with its oplock as the writer\'s attempt left it: its break completed to level II while nobody was there')
  const fid2 = fileIdOf(re)
  t.equal(readData(await b.read(fid2, 0, 100)).toString(), 'acknowledged before the kill')
  const ro = await other.create('k.txt', { access: 0x1, share: 0x7, disposition: Disposition.OPEN })
  t.equal(ro.status, 0)
  t.equal((await other.read(fileIdOf(ro), 0, 4)).status, FILE_LOCK_CONFLICT, 'the lock holds against another client')
  t.equal((await other.lock(fileIdOf(ro), [{ off: 0, len: 4, flags: 0x11 }])).status, LOCK_NOT_GRANTED)
  t.equal((await b.lock(fid2, [{ off: 0, len: 4, flags: 0x4 }])).status, 0, 'and it is the reconnected open\'s own')
  t.equal((await b.write(fid2, 0, Buffer.from('ACK'))).status, 0, 'its own I/O works')
  await other.close(fileIdOf(ro))
  t.equal((await b.close(fid2)).status, 0)
  t.equal(records(ca.dir).length, 1, 'only the lease open\'s record is left')
})

t.test('a shutdown keeps the records; a lease break owed to a restored open completes without closing it', async (t) => {
  const ts = makeTestShare('persist-stop', 'SMBTS-TEST', { shareLines: ['continuous availability = yes'] })
  t.teardown(() => { ts.remove() })
  const dir = join(ts.root, 'records')
  writeFileSync(ts.configPath, readFileSync(ts.configPath, 'utf8').replace('[global]\n', `[global]\npersistent handle directory = ${dir}\n`))
  const logs: string[] = []
  const running = await startServer({ configPath: ts.configPath, pwddbPath: ts.pwddbPath, port: 0, host: '127.0.0.1', useUring: false, log: (l) => { logs.push(l) } })
  const a = await new MemClient(running.state, 'mem:a').connect({ dialect: 0x0300 })
  const guid = randomBytes(16)
  const r = await a.create('l.txt', { lease: { key: Buffer.alloc(16, 3), state: 7 }, contexts: [dh2q(guid)] })
  t.equal(r.body[2], LEASE)
  t.equal((await a.write(fileIdOf(r), 0, Buffer.from('lease data'))).status, 0)
  await running.close()
  t.ok(logs.some(l => /persistent handles: 1 kept in .* for the next start/.test(l)), 'the shutdown says it keeps it')
  t.equal(records(dir).length, 1, 'its record is still there')

  const state = new ServerState(running.state.config, running.state.accounts, running.state.backend, createLogger(() => {}, []))
  state.persistent = openPersistentStore(state)
  t.same(await restorePersistent(state), { restored: 1, dropped: 0 })
  const key = fileKey('share', statSync(join(ts.share, 'l.txt'), { bigint: true }).ino)
  const other = await new MemClient(state, 'mem:o').connect({ dialect: 0x0300 })
  const o = await other.create('l.txt', { access: 0x3, share: 0x7, disposition: Disposition.OPEN })
  t.equal(o.status, 0, 'a writer opens: the RWH lease of the waiting open broke instead of holding it up')
  const lk = a.clientGuid.toString('hex') + Buffer.alloc(16, 3).toString('hex')
  t.equal(state.locks.leaseOf(key, lk)?.state, 3, 'the lease is RH now (W broken, the break completed at once)')
  t.equal(state.durable.parkedCount, 1, 'the open still waits for its client')
  t.equal(recordIn(dir).lease?.state, 3, 'its record says so')
  await other.close(fileIdOf(o))
  const b = new MemClient(state, 'mem:b')
  b.clientGuid = a.clientGuid
  await b.connect({ dialect: 0x0300 })
  const re = await b.create('l.txt', { lease: { key: Buffer.alloc(16, 3), state: 7 }, contexts: [dh2c(fileIdOf(r), guid)] })
  t.equal(re.status, 0, 'DH2C reconnects it')
  t.equal(contextsOf(re).get('RqLs')?.readUInt32LE(16), 3, 'with its lease as it is now: RH')
  t.equal(readData(await b.read(fileIdOf(re), 0, 10)).toString(), 'lease data')
  await b.close(fileIdOf(re))
  for (const fs of state.shares.values()) await (await fs.fs)?.close()
})

t.test('a persistent open whose client leaves during a break is kept: the break completes', async (t) => {
  const { srv, dir } = caServer(t)
  const a = await new MemClient(srv.state, 'mem:a').connect({ dialect: 0x0300 })
  const r = await a.create('b.txt', { oplock: BATCH, share: 7, contexts: [dh2q(randomBytes(16))] })
  t.equal(r.body[2], BATCH)
  const b = await new MemClient(srv.state, 'mem:b').connect({ dialect: 0x0300 })
  const started = Date.now()
  const pending = b.create('b.txt', { access: 0x1, share: 7, disposition: Disposition.OPEN })
  const brk = await a.nextBreak()
  t.equal(brk.oplockLevel, 0x01, 'a break to level II is sent')
  a.conn.close('test: gone without acknowledging')
  const ob = await pending
  t.equal(ob.status, 0, 'the other open goes on')
  t.ok(Date.now() - started < 5000, 'at once, not after the 35 s acknowledgment timer')
  t.equal(srv.state.durable.parkedCount, 1, 'the persistent open is kept')
  t.equal(recordIn(dir).oplock, 0x01, 'its record holds the level the break left')
  await b.close(fileIdOf(ob))
})

t.test('a rename through another open, or of the directory above, keeps the records in step; a restart finds the files', async (t) => {
  const ca = caServer(t)
  ca.srv.files.mkdir('d')
  const a = await new MemClient(ca.srv.state, 'mem:a').connect({ dialect: 0x0300 })
  const g1 = randomBytes(16)
  const g2 = randomBytes(16)
  // Both share delete, so other opens may rename them.
  const f1 = fileIdOf(await a.create('one.txt', { share: 0x7, contexts: [dh2q(g1, PERSISTENT, 30_000)] }))
  const f2 = fileIdOf(await a.create('d\\two.txt', { share: 0x7, contexts: [dh2q(g2, PERSISTENT, 30_000)] }))
  t.equal((await a.write(f1, 0, Buffer.from('first file'))).status, 0)
  t.equal(records(ca.dir).length, 2)
  const pathOf = (guid: Buffer): string | undefined => records(ca.dir).map(n => parseRecord(readFileSync(join(ca.dir, n), 'utf8'))).find(r => r.createGuid === guid.toString('hex'))?.path

  // Another client renames the file through its own open while a's open is connected...
  const b = await new MemClient(ca.srv.state, 'mem:b').connect({ dialect: 0x0300 })
  const o = await b.create('one.txt', { access: 0x10000, share: 0x7, disposition: Disposition.OPEN })
  t.equal(o.status, 0)
  t.equal((await b.setInfo(fileIdOf(o), 1, 10, renameInfo('moved.txt'))).status, 0)
  t.equal(pathOf(g1), 'moved.txt', 'the other open\'s record follows the rename')
  t.equal((await b.close(fileIdOf(o))).status, 0)
  // ...and, once a's connection is gone, renames the directory above the second file.
  a.conn.close('test: network gone')
  await settle()
  const dd = await b.create('d', { access: 0x10000 | 0x1, share: 0x7, disposition: Disposition.OPEN, options: 0x1 })
  t.equal(dd.status, 0)
  t.equal((await b.setInfo(fileIdOf(dd), 1, 10, renameInfo('e'))).status, 0)
  t.equal(pathOf(g2), 'e/two.txt', 'a waiting open beneath a renamed directory: its record follows')
  await b.close(fileIdOf(dd))

  const { state, logs } = await restart(ca)
  t.ok(logs.some(l => /persistent handles: 2 restored from /.test(l)), 'both restored after the restart', { logs })
  const c = await sameClient(state, a)
  const r1 = await c.create('moved.txt', { contexts: [dh2c(f1, g1)] })
  t.equal(r1.status, 0, 'DH2C reconnects the renamed file\'s handle')
  t.equal(readData(await c.read(fileIdOf(r1), 0, 100)).toString(), 'first file')
  const r2 = await c.create('e\\two.txt', { contexts: [dh2c(f2, g2)] })
  t.equal(r2.status, 0, 'and the one beneath the renamed directory')
  t.equal((await c.close(fileIdOf(r1))).status, 0)
  t.equal((await c.close(fileIdOf(r2))).status, 0)
  t.same(records(ca.dir), [])
})

// A rename this process cannot follow (a client of another worker, a program on the server's
// disk): the record keeps the old path, and the restart finds the file by the identity the
// record also keeps (name_to_handle_at, open_by_handle_at: the posix backend, root).
const noHandles = !nativeAvailable ? 'no native addon' : process.getuid?.() !== 0 ? 'open_by_handle_at needs CAP_DAC_READ_SEARCH (root)' : false
t.test('a file renamed where the server could not follow is found by its identity at the restart', { skip: noHandles }, async (t) => {
  const ca = caServer(t, { backend: 'posix' })
  const a = await new MemClient(ca.srv.state, 'mem:a').connect({ dialect: 0x0300 })
  const g1 = randomBytes(16)
  const f1 = fileIdOf(await a.create('away.txt', { share: 0x7, contexts: [dh2q(g1, PERSISTENT, 30_000)] }))
  t.equal((await a.write(f1, 0, Buffer.from('renamed behind our back'))).status, 0)
  t.match(recordIn(ca.dir).fh, /^[0-9a-f]{16,}$/, 'the record keeps the file\'s identity')
  const f2 = fileIdOf(await a.create('doomed.txt', { share: 0x7, contexts: [dh2q(randomBytes(16), PERSISTENT, 30_000)] }))
  t.ok(f2.persistent > 0n)
  ca.srv.files.mkdir('elsewhere')
  renameSync(join(ca.srv.share, 'away.txt'), join(ca.srv.share, 'elsewhere', 'found.txt'))
  unlinkSync(join(ca.srv.share, 'doomed.txt'))

  const { state, logs } = await restart(ca)
  t.ok(logs.some(l => /persistent handle share\/elsewhere\/found\.txt \(fid \d+\) of tester kept for 30000 ms: restored after a restart, found by its identity at elsewhere\/found\.txt \(renamed from away\.txt/.test(l)), 'restored where it is now, and the log says so', { logs })
  t.ok(logs.some(l => /doomed\.txt .* dropped: the file is gone, and not found by its identity: the file is gone/.test(l)), 'a file deleted meanwhile: dropped, saying why', { logs })
  t.equal(recordIn(ca.dir).path, 'elsewhere/found.txt', 'the record names the new path')
  const c = await sameClient(state, a)
  const r = await c.create('away.txt', { contexts: [dh2c(f1, g1)] })
  t.equal(r.status, 0, 'DH2C reconnects it')
  t.equal(readData(await c.read(fileIdOf(r), 0, 100)).toString(), 'renamed behind our back')
  t.equal((await c.close(fileIdOf(r))).status, 0)
  for (const e of state.shares.values()) await (await e.fs)?.close()
})

for (const backend of ['memory', 'posix'] as const) {
  t.test(`a named stream's persistent open is restored too: its data, share mode and lock; a stream gone meanwhile is dropped (${backend})`, { skip: backend === 'posix' && !nativeAvailable ? 'no native addon' : false }, async (t) => {
    const ca = caServer(t, { backend: backend === 'posix' ? 'posix' : undefined })
    const a = await new MemClient(ca.srv.state, 'mem:a').connect({ dialect: 0x0300 })
    const g = randomBytes(16)
    const r = await a.create('sf.txt:alt', { share: 0x1, contexts: [dh2q(g, PERSISTENT, 30_000)] })
    t.equal(r.status, 0)
    t.equal(contextsOf(r).get('DH2Q')?.readUInt32LE(4), PERSISTENT, 'DH2Q on a stream: PERSISTENT granted')
    const fid = fileIdOf(r)
    t.equal((await a.write(fid, 0, Buffer.from('stream data'))).status, 0)
    t.equal(recordIn(ca.dir).stream, 'alt', 'the record names the stream')
    t.equal((await a.setInfo(fid, 1, 10, renameInfo(':moved:$DATA'))).status, 0, 'the open renames its own stream')
    t.equal(recordIn(ca.dir).stream, 'moved', 'the record follows')
    // (Renamed first: a stream rename moves the open to the new name's key without its locks.)
    t.equal((await a.lock(fid, [{ off: 0, len: 6, flags: 0x12 }])).status, 0)
    const r2 = await a.create('sf.txt:other', { share: 0x7, contexts: [dh2q(randomBytes(16), PERSISTENT, 30_000)] })
    t.equal(r2.status, 0)
    // The process dies; the second stream's record names a stream that is gone by the restart.
    const other2 = records(ca.dir).find(n => readFileSync(join(ca.dir, n), 'utf8').includes('"stream":"other"'))!
    writeFileSync(join(ca.dir, other2), readFileSync(join(ca.dir, other2), 'utf8').replace('"stream":"other"', '"stream":"gone1"'))
    const { state, logs } = await restart(ca)
    t.ok(logs.some(l => /sf\.txt .* dropped: its stream gone1 is gone/.test(l)), 'a record of a stream that is gone: dropped, saying so', { logs })
    t.ok(logs.some(l => /persistent handles: 1 restored from /.test(l)), 'the stream open restored', { logs })
    const other = await new MemClient(state, 'mem:o').connect({ dialect: 0x0300 })
    t.equal((await other.create('sf.txt:moved', { access: 0x2, share: 0x7, disposition: Disposition.OPEN })).status, SHARING_VIOLATION, 'its share mode refuses a writer of the stream')
    const ro = await other.create('sf.txt:moved', { access: 0x1, share: 0x7, disposition: Disposition.OPEN })
    t.equal(ro.status, 0)
    t.equal((await other.read(fileIdOf(ro), 0, 4)).status, FILE_LOCK_CONFLICT, 'its lock holds')
    await other.close(fileIdOf(ro))
    const c = await sameClient(state, a)
    const re = await c.create('sf.txt:moved', { contexts: [dh2c(fid, g)] })
    t.equal(re.status, 0, 'DH2C reconnects the stream\'s handle')
    t.equal(readData(await c.read(fileIdOf(re), 0, 100)).toString(), 'stream data', 'its data')
    t.equal((await c.write(fileIdOf(re), 11, Buffer.from('!'))).status, 0, 'and it writes')
    t.equal((await c.close(fileIdOf(re))).status, 0)
    t.same(records(ca.dir), [])
    if (backend === 'posix') for (const e of state.shares.values()) await (await e.fs)?.close()
  })
}

t.test('replay state in the record: ChannelSequence kept across the restart and the reconnect, replay eligibility too', async (t) => {
  const ca = caServer(t)
  const a = await new MemClient(ca.srv.state, 'mem:a').connect({ dialect: 0x0300 })
  const gUsed = randomBytes(16)
  const gFresh = randomBytes(16)
  const fUsed = fileIdOf(await a.create('used.txt', { share: 0x7, contexts: [dh2q(gUsed, PERSISTENT, 30_000)] }))
  const rFresh = await a.create('fresh.txt', { share: 0x7, contexts: [dh2q(gFresh, PERSISTENT, 30_000)] })
  const byGuid = (g: Buffer): ReturnType<typeof parseRecord> => records(ca.dir).map(n => parseRecord(readFileSync(join(ca.dir, n), 'utf8'))).find(r => r.createGuid === g.toString('hex'))!
  t.equal(byGuid(gUsed).replayEligible, true, 'a new open may have its CREATE replayed')
  const write = (c: MemClient, fid: { persistent: bigint, volatile: bigint }, channelSequence: number, flags = 0): Promise<Resp> =>
    c.request({ cmd: 0x09, body: writeBody(fid, 0, Buffer.from('x')), channelSequence, flags })
  t.equal((await write(a, fUsed, 3)).status, 0, 'a WRITE under ChannelSequence 3 (the client moved to a new channel)')
  t.equal(byGuid(gUsed).channelSequence, 3, 'the record keeps the sequence')
  t.equal(byGuid(gUsed).replayEligible, false, 'and that the open was used: its CREATE is no longer replayable')
  t.equal(byGuid(gFresh).replayEligible, true)

  const { state } = await restart(ca)
  const c = await sameClient(state, a)
  // The unused open's CREATE, replayed on the new connection, takes it back (smb2.replay.replay5).
  const rp = await c.request({ cmd: 0x05, body: createBody('fresh.txt', { share: 0x7, contexts: [dh2q(gFresh, PERSISTENT, 30_000)] }), flags: REPLAY })
  t.equal(rp.status, 0)
  t.equal(fileIdOf(rp).persistent, fileIdOf(rFresh).persistent, 'a replay of the unused open\'s CREATE gives it back')
  const rp2 = await c.request({ cmd: 0x05, body: createBody('used.txt', { share: 0x7, contexts: [dh2q(gUsed, PERSISTENT, 30_000)] }), flags: REPLAY })
  t.not(rp2.status === 0 ? fileIdOf(rp2).persistent : undefined, fUsed.persistent, 'a replay of the used open\'s CREATE does not give it back (Open.IsReplayEligible kept FALSE)')
  if (rp2.status === 0) await c.close(fileIdOf(rp2))
  const re = await c.create('used.txt', { contexts: [dh2c(fUsed, gUsed)] })
  t.equal(re.status, 0, 'DH2C reconnects the used one')
  const fid = fileIdOf(re)
  t.equal((await write(c, fid, 2)).status, FILE_NOT_AVAILABLE, 'a WRITE from a channel sequence the open moved past is refused after the restart and the reconnect')
  t.equal((await write(c, fid, 3)).status, 0, 'the sequence it reached goes on')
  t.equal((await write(c, fid, 4)).status, 0, 'and a later one')
  t.equal(byGuid(gUsed).channelSequence, 4, 'the record follows')
  await c.close(fid)
  await c.close(fileIdOf(rp))
})
