// Oplocks through the whole server in memory (MS-SMB2 3.3.5.9 grants, 3.3.4.6 break
// notifications, 3.3.5.22.1 acknowledgments, 3.3.4.2 interim responses, 3.3.5.16 CANCEL): two
// clients on one ServerState, the holder answering (or not) the way real clients do.
//
// Backend: memory (the default); oplocks and share modes are the server's own state.
import t from 'tap'
import {
  Access, Command, createBody, Disposition, fileIdOf, MemClient, memServer, Opt, Oplock, oplockOf, queryInfoBody,
  readData, renameInfo, Status, type MemServer, type MemServerOptions, type Resp,
} from '../helpers/mem-client.js'
import { HeaderFlags } from '../../src/wire/constants.js'
import { fileKey } from '../../src/locking/share-modes.js'

const SHARE_ALL = 7
const FILE_INFO = 1
const FileStandardInformation = 5
const FileEndOfFileInformation = 20
/** FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES | SYNCHRONIZE: a "stat open". */
const STAT_ACCESS = 0x80 | 0x100 | 0x100000

function server (t: { teardown: (fn: () => void) => void }, o: MemServerOptions = {}): MemServer {
  const srv = memServer(o)
  t.teardown(srv.cleanup)
  return srv
}

/** Resolves once the server has processed everything queued so far (a pending request stays pending). */
const settle = (): Promise<void> => new Promise(resolve => setTimeout(resolve, 20))

t.test('grants: batch/exclusive to the only open, level II beside others, none for stat opens beside an exclusive holder, none for directories', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()

  const r1 = await a.create('g.bin', { oplock: Oplock.BATCH, share: SHARE_ALL })
  t.equal(r1.status, 0)
  t.equal(oplockOf(r1), Oplock.BATCH, 'the only open gets the batch oplock it asked for')
  const stat = await b.create('g.bin', { oplock: Oplock.EXCLUSIVE, access: STAT_ACCESS, disposition: Disposition.OPEN })
  t.equal(stat.status, 0)
  t.equal(oplockOf(stat), Oplock.NONE, 'a stat open beside a batch holder gets none')
  t.equal(a.unreadBreaks, 0, 'and breaks nothing')
  await b.close(fileIdOf(stat))
  await a.close(fileIdOf(r1))

  const lone = await a.create('g.bin', { oplock: Oplock.II })
  t.equal(oplockOf(lone), Oplock.II, 'level II when asked for, even alone')
  const ex = await b.create('g.bin', { oplock: Oplock.EXCLUSIVE })
  t.equal(oplockOf(ex), Oplock.II, 'exclusive asked beside another open: level II')
  t.equal(a.unreadBreaks, 0, 'a level II holder is not broken by an open')
  const none = await b.create('g.bin', { oplock: Oplock.NONE })
  t.equal(oplockOf(none), Oplock.NONE, 'none asked, none given')
  const lease = await b.create('g.bin', { oplock: Oplock.LEASE })
  t.equal(oplockOf(lease), Oplock.NONE, 'a lease request gets no oplock (leases are not granted)')
  for (const f of [lone]) await a.close(fileIdOf(f))
  for (const f of [ex, none, lease]) await b.close(fileIdOf(f))

  const d = await a.create('dir', { oplock: Oplock.BATCH, options: Opt.DIRECTORY_FILE, disposition: Disposition.CREATE, access: Access.GENERIC_READ })
  t.equal(d.status, 0)
  t.equal(oplockOf(d), Oplock.NONE, 'directories get no oplock')
})

t.test('oplocks = no and level2 oplocks = no are honoured', async (t) => {
  const off = server(t, { shareLines: ['oplocks = no'] })
  const c = await new MemClient(off.state).connect()
  t.equal(oplockOf(await c.create('x', { oplock: Oplock.BATCH })), Oplock.NONE, 'oplocks = no: none')

  const noL2 = server(t, { shareLines: ['level2 oplocks = no'] })
  const a = await new MemClient(noL2.state, 'mem:a').connect()
  const b = await new MemClient(noL2.state, 'mem:b').connect()
  const ra = await a.create('y', { oplock: Oplock.BATCH })
  t.equal(oplockOf(ra), Oplock.BATCH, 'exclusive kinds are still granted')
  const pb = b.create('y', { oplock: Oplock.II })
  const brk = await a.nextBreak()
  t.equal(brk.oplockLevel, Oplock.NONE, 'the break goes to none, not level II')
  t.equal((await a.ack(fileIdOf(ra), Oplock.NONE)).status, 0)
  const rb = await pb
  t.equal(rb.status, 0)
  t.equal(oplockOf(rb), Oplock.NONE, 'and no level II is granted')
})

t.test('a conflicting open breaks a batch oplock: notification, interim STATUS_PENDING, ack, final response', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect({ signAll: true })
  const b = await new MemClient(srv.state, 'mem:b').connect({ signAll: true })
  const ra = await a.create('doc.txt', { oplock: Oplock.BATCH, share: SHARE_ALL })
  const fa = fileIdOf(ra)
  t.equal(oplockOf(ra), Oplock.BATCH)
  // Data the holder caches under its oplock reaches the server before it acknowledges.
  await a.write(fa, 0, Buffer.from('cached by a'))

  const midB = b.nextMid
  const pending = b.create('doc.txt', { oplock: Oplock.BATCH, share: SHARE_ALL, disposition: Disposition.OPEN })
  const brk = await a.nextBreak()
  t.equal(brk.oplockLevel, Oplock.II, 'broken to level II')
  t.same(brk.fileId, fa, 'names the holder\'s FileId')
  t.equal(brk.hdr.messageId, 0xffffffffffffffffn, 'MessageId all ones')
  t.equal(brk.hdr.sessionId, 0n, 'SessionId 0')
  t.equal(brk.hdr.command, Command.OPLOCK_BREAK)
  t.equal(brk.hdr.flags & HeaderFlags.SIGNED, 0, 'not signed')
  t.ok(brk.msg.subarray(48, 64).equals(Buffer.alloc(16)), 'no signature')
  t.equal(brk.msg.readUInt16LE(64), 24, 'StructureSize 24')

  await settle()
  t.equal(b.interims.length, 1, 'the waiting CREATE answered STATUS_PENDING')
  const interim = b.interims[0]
  t.equal(interim.hdr.messageId, midB, 'for its MessageId')
  t.not(interim.hdr.flags & HeaderFlags.ASYNC_COMMAND, 0, 'async header')
  t.not(interim.hdr.asyncId, 0n, 'with a nonzero AsyncId')
  t.equal(interim.hdr.flags & HeaderFlags.SIGNED, 0, 'interim responses are not signed')
  t.ok(interim.hdr.creditRequest >= 1, 'the interim response grants the credits')

  const ack = await a.ack(fa, Oplock.II)
  t.equal(ack.status, 0)
  t.equal(ack.body.readUInt16LE(0), 24)
  t.equal(ack.body[2], Oplock.II, 'response names the acknowledged level')
  const rb = await pending
  t.equal(rb.status, 0, 'the CREATE completes after the acknowledgment')
  t.equal(rb.hdr.asyncId, interim.hdr.asyncId, 'final response carries the same AsyncId')
  t.not(rb.hdr.flags & HeaderFlags.ASYNC_COMMAND, 0, 'in the async form')
  t.equal(rb.credits, 0, 'and grants no more credits')
  t.ok(b.verify(rb), 'the final response is signed')
  t.equal(oplockOf(rb), Oplock.II, 'the new open gets level II')
  const r = await b.read(fileIdOf(rb), 0, 100)
  t.equal(readData(r).toString(), 'cached by a', 'and sees what the holder wrote before acknowledging')

  // Both hold level II now: a WRITE breaks both to none (the writer's own too), no ack expected.
  await b.write(fileIdOf(rb), 0, Buffer.from('B'))
  const [n1, n2] = [await a.nextBreak(), await b.nextBreak()]
  t.equal(n1.oplockLevel, Oplock.NONE)
  t.equal(n2.oplockLevel, Oplock.NONE, 'the writer\'s own level II breaks too')
  t.equal((await b.ack(fileIdOf(rb), Oplock.NONE)).status, Status.INVALID_OPLOCK_PROTOCOL, 'a level II break needs (and takes) no acknowledgment')
  await a.write(fa, 0, Buffer.from('A'))
  await settle()
  t.equal(a.unreadBreaks + b.unreadBreaks, 0, 'nothing left to break')
})

t.test('closing instead of acknowledging lets the new open proceed with the oplock it asked for', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('c.bin', { oplock: Oplock.BATCH, share: 0 }))
  const pending = b.create('c.bin', { oplock: Oplock.BATCH, share: 0 })
  t.equal((await a.nextBreak()).oplockLevel, Oplock.II)
  t.equal((await a.close(fa)).status, 0)
  const rb = await pending
  t.equal(rb.status, 0, 'no sharing violation: the holder is gone')
  t.equal(oplockOf(rb), Oplock.BATCH, 'and the new open is alone')
})

t.test('a holder with delete on close that closes on the break: the waiting open finds the file gone', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('tmp.bin', { oplock: Oplock.BATCH, share: SHARE_ALL, options: Opt.DELETE_ON_CLOSE }))
  const pending = b.create('tmp.bin', { share: SHARE_ALL, disposition: Disposition.OPEN })
  await a.nextBreak()
  await a.close(fa)
  t.equal((await pending).status, Status.OBJECT_NAME_NOT_FOUND, 'the holder\'s close deleted it before the waiting open went on')
})

t.test('sharing: a batch holder is broken before SHARING_VIOLATION; an exclusive one is not', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('s.bin', { oplock: Oplock.BATCH, share: 0 }))
  const pending = b.create('s.bin', { disposition: Disposition.OPEN })
  t.equal((await a.nextBreak()).oplockLevel, Oplock.II)
  await a.ack(fa, Oplock.II)
  t.equal((await pending).status, Status.SHARING_VIOLATION, 'still a sharing violation after the ack')
  t.equal((await b.create('s.bin', { disposition: Disposition.OPEN })).status, Status.SHARING_VIOLATION)
  await settle()
  t.equal(a.unreadBreaks, 0, 'a level II holder is not broken again')
  await a.close(fa)

  const fe = fileIdOf(await a.create('e.bin', { oplock: Oplock.EXCLUSIVE, share: 0 }))
  t.equal((await b.create('e.bin', { disposition: Disposition.OPEN })).status, Status.SHARING_VIOLATION)
  await settle()
  t.equal(a.unreadBreaks, 0, 'an exclusive oplock is not broken by a sharing violation')
  await a.close(fe)

  // MS-FSA: a file pending deletion answers DELETE_PENDING before any break (smb2.oplock.doc).
  const fd = fileIdOf(await a.create('d.bin', { oplock: Oplock.BATCH, share: SHARE_ALL, options: Opt.DELETE_ON_CLOSE }))
  const keep = fileIdOf(await a.create('d.bin', { share: SHARE_ALL, access: STAT_ACCESS, disposition: Disposition.OPEN }))
  await a.close(fd)
  t.equal((await b.create('d.bin', { disposition: Disposition.OPEN })).status, Status.DELETE_PENDING)
  t.equal(a.unreadBreaks, 0)
  await a.close(keep)
  t.equal(srv.state.locks.trackedRecords, 0, 'every open closed: no oplock state left')
})

t.test('an overwriting open breaks to none and waits; the file is truncated only after the ack', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  srv.files.write('o.bin', 'old contents')
  const fa = fileIdOf(await a.create('o.bin', { oplock: Oplock.EXCLUSIVE, share: SHARE_ALL, disposition: Disposition.OPEN }))
  const pending = b.create('o.bin', { disposition: Disposition.OVERWRITE_IF, share: SHARE_ALL, oplock: Oplock.II })
  t.equal((await a.nextBreak()).oplockLevel, Oplock.NONE, 'break to none')
  t.equal(srv.files.read('o.bin').toString(), 'old contents', 'not truncated while the holder may still flush')
  const bad = await a.ack(fa, Oplock.II)
  t.equal(bad.status, Status.INVALID_OPLOCK_PROTOCOL, 'acknowledging more than the break left fails')
  const rb = await pending
  t.equal(rb.status, 0, 'and the break completes to none anyway')
  t.equal(oplockOf(rb), Oplock.II)
  t.equal(srv.files.read('o.bin').toString(), '', 'truncated by the overwrite')
  t.equal((await a.ack(fa, Oplock.NONE)).status, Status.INVALID_OPLOCK_PROTOCOL, 'no break in progress any more')
})

t.test('acknowledgment errors (MS-SMB2 3.3.5.22.1)', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('k.bin', { oplock: Oplock.BATCH }))
  t.equal((await a.ack(fa, Oplock.NONE)).status, Status.INVALID_OPLOCK_PROTOCOL, 'no break in progress')
  t.equal((await a.ack({ persistent: 99n, volatile: 99n }, Oplock.NONE)).status, Status.FILE_CLOSED, 'unknown FileId')
  t.equal((await a.ack(fa, 0x42)).status, Status.INVALID_PARAMETER, 'not an oplock level')
  const pending = b.create('k.bin', {})
  await a.nextBreak()
  t.equal((await a.ack(fa, Oplock.BATCH)).status, Status.INVALID_OPLOCK_PROTOCOL, 'batch is above the break target')
  t.equal((await pending).status, 0, 'the refused ack still ends the break (to none)')
  await a.close(fa)

  const fl = fileIdOf(await a.create('l.bin', { oplock: Oplock.BATCH }))
  const p2 = b.create('l.bin', {})
  await a.nextBreak()
  t.equal((await a.ack(fl, Oplock.LEASE)).status, Status.INVALID_PARAMETER, 'lease level in an oplock ack')
  t.equal((await p2).status, 0)
})

t.test('break timeout: with no acknowledgment the open proceeds after the timer (MS-SMB2 3.3.2.1)', async (t) => {
  const srv = server(t, { oplockBreakTimeoutMs: 150 })
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('t.bin', { oplock: Oplock.BATCH, share: SHARE_ALL }))
  const started = Date.now()
  const rb = await b.create('t.bin', { oplock: Oplock.BATCH, share: SHARE_ALL })
  const took = Date.now() - started
  t.equal(rb.status, 0)
  t.ok(took >= 140, `waited for the timer (${took} ms)`)
  t.equal(oplockOf(rb), Oplock.II, 'the holder counts as broken to level II')
  t.equal((await a.nextBreak(0)).oplockLevel, Oplock.II, 'the holder was told')
  t.equal((await a.ack(fa, Oplock.II)).status, Status.INVALID_OPLOCK_PROTOCOL, 'a late acknowledgment finds no break')
})

t.test('CANCEL of a CREATE waiting for a break: STATUS_CANCELLED, nothing opened or truncated', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  srv.files.write('x.bin', 'keep me')
  const fa = fileIdOf(await a.create('x.bin', { oplock: Oplock.BATCH, share: SHARE_ALL, disposition: Disposition.OPEN }))
  const pending = b.create('x.bin', { disposition: Disposition.OVERWRITE_IF, share: SHARE_ALL })
  await a.nextBreak()
  await settle()
  const asyncId = b.interims[0].hdr.asyncId
  await b.cancel({ asyncId: 0x7777n })
  await settle()
  t.equal(b.interims.length, 1, 'a CANCEL naming another AsyncId changes nothing')
  await b.cancel({ asyncId })
  const rb = await pending
  t.equal(rb.status, Status.CANCELLED)
  t.equal(rb.hdr.asyncId, asyncId, 'in the async form')
  t.equal(srv.files.read('x.bin').toString(), 'keep me', 'not truncated')
  t.equal(srv.state.locks.openCount(fileKey('share', srv.files.ino('x.bin'))), 1, 'only the holder\'s open remains')
  await b.cancel({ asyncId })
  t.equal((await b.echo()).status, 0, 'a second CANCEL of a finished request is ignored')
  t.equal((await a.ack(fa, Oplock.NONE)).status, 0, 'the holder can still acknowledge')
})

t.test('a sync-form CANCEL that arrives before the CREATE starts waiting still cancels it', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('early.bin', { oplock: Oplock.BATCH, share: SHARE_ALL }))
  const mid = b.nextMid
  const pending = b.create('early.bin', { share: SHARE_ALL })
  // The CREATE is still looking the file up when the CANCEL (by MessageId) is processed.
  await b.cancel({ messageId: mid })
  const rb = await pending
  t.equal(rb.status, Status.CANCELLED)
  t.equal((await a.nextBreak()).oplockLevel, Oplock.II, 'the break it started goes on')
  t.equal((await a.ack(fa, Oplock.II)).status, 0)
  const again = await b.create('early.bin', { share: SHARE_ALL })
  t.equal(again.status, 0, 'a later request is not affected')
})

t.test('inside a compound the CREATE waits in place; CANCEL finds it by MessageId', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('cmp.bin', { oplock: Oplock.BATCH, share: SHARE_ALL }))
  const compound = (): Promise<Resp[]> => b.send(
    { cmd: Command.CREATE, body: createBody('cmp.bin', { share: SHARE_ALL, disposition: Disposition.OPEN }) },
    { cmd: Command.QUERY_INFO, body: queryInfoBody({ persistent: 0xffffffffffffffffn, volatile: 0xffffffffffffffffn }, FILE_INFO, FileStandardInformation), related: true }
  )
  let p = compound()
  await a.nextBreak()
  await settle()
  t.equal(b.interims.length, 0, 'no interim response inside a compound')
  await a.ack(fa, Oplock.II)
  let [cr, qi] = await p
  t.equal(cr.status, 0)
  t.equal(qi.status, 0, 'the related request runs on the opened file')
  t.equal(cr.hdr.flags & HeaderFlags.ASYNC_COMMAND, 0, 'sync responses')

  // Again, now cancelled by MessageId (the sync CANCEL form).
  await b.close(fileIdOf(cr))
  await a.close(fa)
  const fa2 = fileIdOf(await a.create('cmp.bin', { oplock: Oplock.BATCH, share: SHARE_ALL }))
  const mid = b.nextMid
  p = compound()
  await a.nextBreak()
  await b.cancel({ messageId: mid })
  ;[cr, qi] = await p
  t.equal(cr.status, Status.CANCELLED)
  t.not(qi.status, 0, 'the related request fails after it')
  await a.ack(fa2, Oplock.II)
})

t.test('LOGOFF, TREE_DISCONNECT and disconnect end a waiting CREATE exactly once', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const fa = fileIdOf(await a.create('l.bin', { oplock: Oplock.BATCH, share: SHARE_ALL }))

  const b = await new MemClient(srv.state, 'mem:b').connect()
  const midB = b.nextMid
  const pending = b.create('l.bin', { share: SHARE_ALL })
  await a.nextBreak()
  await settle()
  const before = b.sent.length
  t.equal((await b.logoff()).status, 0)
  const rb = await pending
  t.equal(rb.status, Status.CANCELLED, 'the waiting CREATE is cancelled by the LOGOFF')
  await settle()
  const answers = b.sent.slice(before).filter(p => p.readBigUInt64LE(24) === midB)
  t.equal(answers.length, 1, 'one final response, no more')

  const c = await new MemClient(srv.state, 'mem:c').connect()
  const pc = c.create('l.bin', { share: SHARE_ALL })
  await settle()
  t.equal((await c.treeDisconnect()).status, 0)
  t.equal((await pc).status, Status.CANCELLED, 'TREE_DISCONNECT cancels too')

  const d = await new MemClient(srv.state, 'mem:d').connect()
  const pd = d.create('l.bin', { share: SHARE_ALL })
  await settle()
  const sentBefore = d.sent.length
  d.conn.close('test disconnect')
  await t.rejects(pd, /no response/, 'the CREATE ends without a response')
  t.equal(d.sent.length, sentBefore, 'nothing is sent on a closed connection')

  // The break is still outstanding; the holder acknowledges and a new open gets level II.
  t.equal((await a.ack(fa, Oplock.II)).status, 0)
  const e = await new MemClient(srv.state, 'mem:e').connect()
  const re = await e.create('l.bin', { oplock: Oplock.BATCH, share: SHARE_ALL })
  t.equal(re.status, 0)
  t.equal(oplockOf(re), Oplock.II)
})

t.test('the holder logging off ends the break: the waiting open proceeds alone', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  await a.create('h.bin', { oplock: Oplock.BATCH, share: 0 })
  const pending = b.create('h.bin', { oplock: Oplock.EXCLUSIVE, share: 0 })
  await a.nextBreak()
  await a.logoff()
  const rb = await pending
  t.equal(rb.status, 0)
  t.equal(oplockOf(rb), Oplock.EXCLUSIVE)
})

t.test('SET_INFO EndOfFile breaks level II oplocks to none', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  const fa = fileIdOf(await a.create('eof.bin', { oplock: Oplock.II, share: SHARE_ALL }))
  const rb = await b.create('eof.bin', { oplock: Oplock.II, share: SHARE_ALL })
  t.equal(oplockOf(rb), Oplock.II)
  const eof = Buffer.alloc(8)
  eof.writeBigUInt64LE(100n)
  t.equal((await b.setInfo(fileIdOf(rb), FILE_INFO, FileEndOfFileInformation, eof)).status, 0)
  t.equal((await a.nextBreak()).oplockLevel, Oplock.NONE)
  t.equal((await b.nextBreak()).oplockLevel, Oplock.NONE)
  await a.close(fa)
})

t.test('encrypted session: the break notification is encrypted with the holder\'s session key', async (t) => {
  const srv = server(t, { global: ['smb3 encryption = mandatory'] })
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  t.ok(a.encryptAll, 'the session encrypts')
  const fa = fileIdOf(await a.create('enc.bin', { oplock: Oplock.BATCH, share: SHARE_ALL }))
  const pending = b.create('enc.bin', { share: SHARE_ALL })
  const brk = await a.nextBreak()
  t.ok(brk.encrypted, 'sent in a TRANSFORM_HEADER')
  t.equal(brk.transformSessionId, a.sessionId, 'for the holder\'s session')
  t.equal(brk.hdr.sessionId, 0n, 'the inner header keeps SessionId 0')
  t.equal(brk.oplockLevel, Oplock.II)
  await settle()
  t.ok(b.interims.length === 1 && b.interims[0].encrypted, 'the interim response is encrypted too')
  t.equal((await a.ack(fa, Oplock.II)).status, 0)
  t.equal((await pending).status, 0)
})

t.test('a pending CREATE does not block the connection: other requests are answered meanwhile', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const fa = fileIdOf(await a.create('same.bin', { oplock: Oplock.BATCH, share: SHARE_ALL }))
  // The same client opens its own file again: it must be able to acknowledge while it waits.
  const pending = a.create('same.bin', { share: SHARE_ALL, access: Access.GENERIC_READ })
  const brk = await a.nextBreak()
  t.same(brk.fileId, fa)
  t.equal((await a.echo()).status, 0, 'ECHO answered while the CREATE waits')
  t.equal((await a.ack(fa, Oplock.II)).status, 0)
  const r = await pending
  t.equal(r.status, 0)
  t.equal(a.interims.length, 1)
})

t.test('a rename replacing a file breaks a batch oplock on it; the rename fails while the file stays open', async (t) => {
  const srv = server(t)
  const a = await new MemClient(srv.state, 'mem:a').connect()
  const b = await new MemClient(srv.state, 'mem:b').connect()
  srv.files.write('src.txt', 'new')
  srv.files.write('dst.txt', 'old')
  const FileRenameInformation = 10
  const rename = (fid: ReturnType<typeof fileIdOf>): Promise<Resp> => b.setInfo(fid, FILE_INFO, FileRenameInformation, renameInfo('dst.txt', true))

  const held = fileIdOf(await a.create('dst.txt', { oplock: Oplock.BATCH, share: SHARE_ALL, disposition: Disposition.OPEN }))
  const fs = await b.open('src.txt', { access: Access.DELETE | Access.GENERIC_READ, disposition: Disposition.OPEN })
  let p = rename(fs)
  t.equal((await a.nextBreak()).oplockLevel, Oplock.II, 'the holder of the file being replaced is told first')
  t.equal((await a.ack(held, Oplock.II)).status, 0)
  t.equal((await p).status, Status.ACCESS_DENIED, 'it kept the file open: no replacing it')
  t.equal(srv.files.read('dst.txt').toString(), 'old')

  await a.close(held)
  const again = fileIdOf(await a.create('dst.txt', { oplock: Oplock.BATCH, share: SHARE_ALL, disposition: Disposition.OPEN }))
  p = rename(fs)
  await a.nextBreak()
  await a.close(again)
  t.equal((await p).status, 0, 'the holder closed on the break: the rename goes through')
  t.equal(srv.files.read('dst.txt').toString(), 'new')
})
