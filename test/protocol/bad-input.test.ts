// Malformed input through the whole server in memory. Each case gets a definite answer — an
// error response with the right NTSTATUS, or a closed connection — `handlePdu` always resolves,
// nothing is logged as an internal error, and another connection on the same ServerState keeps
// working afterwards.
//
// Backend: memory (the default); nothing here depends on a file system.
import t, { type Test } from 'tap'
import {
  closeBody, Command, createBody, Disposition, ioctlBody, MemClient, memServer, negotiateBody, parseResponses,
  queryDirectoryBody, readBody, sessionSetupBody, setInfoBody, smallBody, Status, treeConnectBody, writeBody,
  type FileId, type MemServer,
} from '../helpers/mem-client.js'

const srv: MemServer = memServer({ log: true })
t.teardown(srv.cleanup)

/** Sends raw bytes; returns the statuses of the response messages (none if the connection closed). */
async function send (c: MemClient, pdu: Buffer): Promise<number[]> {
  const out = await c.raw(pdu) // must resolve, whatever the bytes
  return out.flatMap(p => parseResponses(p).map(r => r.status))
}

async function stillServes (t: Test, what: string): Promise<void> {
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('alive.txt', { disposition: Disposition.OPEN_IF })
  await c.write(fid, 0, Buffer.from('ok'))
  const ok = (await c.read(fid, 0, 2)).status === 0 && (await c.close(fid)).status === 0 && !c.closed
  t.ok(ok, `after ${what}: a second connection still works`)
  const errors = srv.logs.filter(l => / error /.test(l))
  t.same(errors, [], `after ${what}: no internal error logged`)
}

async function session (): Promise<{ c: MemClient, fid: FileId, dir: FileId }> {
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('victim.txt', { disposition: Disposition.OPEN_IF })
  const dir = await c.open('', { access: 0x80000000, options: 1 })
  return { c, fid, dir }
}

t.test('truncated and foreign PDUs close the connection', async (t) => {
  const cases: Array<[string, (c: MemClient) => Buffer]> = [
    ['empty PDU', () => Buffer.alloc(0)],
    ['3 bytes', () => Buffer.from([0xfe, 0x53, 0x4d])],
    ['magic only', () => Buffer.from([0xfe, 0x53, 0x4d, 0x42])],
    ['63-byte header', (c) => c.message({ cmd: Command.NEGOTIATE, body: Buffer.alloc(0) }).subarray(0, 63)],
    ['unknown protocol id', () => Buffer.alloc(100, 0x41)],
    ['transform header without encryption', () => { const b = Buffer.alloc(100); b.writeUInt32LE(0x424d53fd, 0); return b }],
    ['compression header', () => { const b = Buffer.alloc(100); b.writeUInt32LE(0x424d53fc, 0); return b }],
    ['SMB1 that is not a NEGOTIATE', () => { const b = Buffer.alloc(40); b.writeUInt32LE(0x424d53ff, 0); b[4] = 0x73; return b }],
    ['SMB1 NEGOTIATE cut short', () => { const b = Buffer.alloc(33); b.writeUInt32LE(0x424d53ff, 0); b[4] = 0x72; return b }],
    ['header StructureSize 63', (c) => { const m = c.message({ cmd: Command.NEGOTIATE, body: negotiateBody({ dialects: [0x0300] }) }); m.writeUInt16LE(63, 4); return m }],
    ['header StructureSize 0', (c) => { const m = c.message({ cmd: Command.NEGOTIATE, body: negotiateBody({ dialects: [0x0300] }) }); m.writeUInt16LE(0, 4); return m }],
    ['a response sent to the server', (c) => { const m = c.message({ cmd: Command.NEGOTIATE, body: negotiateBody({ dialects: [0x0300] }) }); m.writeUInt32LE(1, 16); return m }],
  ]
  for (const [what, make] of cases) {
    const c = new MemClient(srv.state)
    t.same(await send(c, make(c)), [], `${what}: no response`)
    t.ok(c.closed, `${what}: connection closed`)
    // and the same after NEGOTIATE and a session
    const c2 = await new MemClient(srv.state).connect()
    t.same(await send(c2, make(c2)), [], `${what} (in session): no response`)
    t.ok(c2.closed, `${what} (in session): closed`)
  }
  await stillServes(t, 'truncated PDUs')
})

t.test('commands before NEGOTIATE close; before SESSION_SETUP they are refused', async (t) => {
  for (const cmd of [Command.SESSION_SETUP, Command.TREE_CONNECT, Command.CREATE, Command.ECHO, Command.LOGOFF, Command.CANCEL + 1]) {
    const c = new MemClient(srv.state)
    const body = cmd === Command.SESSION_SETUP ? sessionSetupBody(Buffer.alloc(10)) : cmd === Command.TREE_CONNECT ? treeConnectBody('\\\\x\\share') : cmd === Command.CREATE ? createBody('a') : smallBody()
    t.same(await send(c, c.message({ cmd, body })), [], `command ${cmd} before NEGOTIATE: no response`)
    t.ok(c.closed, `command ${cmd} before NEGOTIATE closes`)
  }
  const c = new MemClient(srv.state)
  await c.negotiate({ dialects: [0x0311] })
  t.same(await send(c, c.message({ cmd: Command.TREE_CONNECT, body: treeConnectBody('\\\\x\\share') })), [Status.USER_SESSION_DELETED], 'TREE_CONNECT without a session')
  t.same(await send(c, c.message({ cmd: Command.CREATE, body: createBody('a') })), [Status.USER_SESSION_DELETED], 'CREATE without a session')
  t.same(await send(c, c.message({ cmd: Command.LOGOFF, body: smallBody() })), [Status.USER_SESSION_DELETED], 'LOGOFF without a session')
  t.same(await send(c, c.message({ cmd: Command.ECHO, body: smallBody() })), [0], 'ECHO needs no session')
  t.same(await send(c, c.message({ cmd: Command.SESSION_SETUP, body: sessionSetupBody(Buffer.alloc(0)), sessionId: 0x1234n })), [Status.USER_SESSION_DELETED], 'SESSION_SETUP naming an unknown session')
  // a session in progress is not a session yet
  const first = await c.request({ cmd: Command.SESSION_SETUP, body: sessionSetupBody(Buffer.from('4e544c4d5353500001000000978208e2000000000000000000000000000000000a0061' + '4a0000000f', 'hex')) })
  t.equal(first.status, Status.MORE_PROCESSING_REQUIRED, 'raw NTLMSSP NEGOTIATE starts a session')
  t.same(await send(c, c.message({ cmd: Command.TREE_CONNECT, body: treeConnectBody('\\\\x\\share'), sessionId: first.hdr.sessionId })), [Status.USER_SESSION_DELETED], 'TREE_CONNECT on a session in progress')
  t.notOk(c.closed)
  // a tree-less CREATE
  const s = await new MemClient(srv.state).connect()
  t.same(await send(s, s.message({ cmd: Command.CREATE, body: createBody('a'), treeId: 999 })), [Status.NETWORK_NAME_DELETED], 'unknown TreeId')
  t.same(await send(s, s.message({ cmd: Command.CLOSE, body: closeBody({ persistent: 5n, volatile: 77n }) })), [Status.FILE_CLOSED], 'unknown FileId')
  await stillServes(t, 'commands out of order')
})

t.test('an unknown command, bad StructureSize, body shorter than StructureSize', async (t) => {
  const { c, fid } = await session()
  t.same(await send(c, c.message({ cmd: 0x13, body: smallBody() })), [Status.INVALID_PARAMETER], 'command 0x13')
  t.same(await send(c, c.message({ cmd: 0xffff, body: smallBody() })), [Status.INVALID_PARAMETER], 'command 0xffff')
  const wrongSize = createBody('x'); wrongSize.writeUInt16LE(56, 0)
  t.same(await send(c, c.message({ cmd: Command.CREATE, body: wrongSize })), [Status.INVALID_PARAMETER], 'CREATE StructureSize 56')
  const cases: Array<[string, number, Buffer]> = [
    ['CREATE', Command.CREATE, createBody('x')],
    ['WRITE', Command.WRITE, writeBody(fid, 0, Buffer.from('abc'))],
    ['READ', Command.READ, readBody(fid, 0, 10)],
    ['CLOSE', Command.CLOSE, closeBody(fid)],
    ['QUERY_DIRECTORY', Command.QUERY_DIRECTORY, queryDirectoryBody(fid)],
    ['SET_INFO', Command.SET_INFO, setInfoBody(fid, 1, 4, Buffer.alloc(40))],
    ['IOCTL', Command.IOCTL, ioctlBody(0x140204, fid, Buffer.alloc(24))],
    ['TREE_CONNECT', Command.TREE_CONNECT, treeConnectBody('\\\\x\\share')],
    ['SESSION_SETUP', Command.SESSION_SETUP, sessionSetupBody(Buffer.alloc(8))],
  ]
  for (const [name, cmd, body] of cases) {
    const size = body.readUInt16LE(0)
    for (const keep of [0, 1, 2, (size & ~1) - 1]) {
      if (keep >= body.length) continue
      const st = await send(c, c.message({ cmd, body: body.subarray(0, keep) }))
      t.same(st, [Status.INVALID_PARAMETER], `${name} body cut to ${keep} bytes`)
    }
  }
  t.notOk(c.closed)
  await stillServes(t, 'short bodies')
})

t.test('offsets and lengths pointing outside the message', async (t) => {
  const { c, fid, dir } = await session()
  const at = (b: Buffer, f: (b: Buffer) => void): Buffer => { const x = Buffer.from(b); f(x); return x }
  const cases: Array<[string, number, Buffer, number[]]> = [
    ['CREATE NameLength past the end', Command.CREATE, at(createBody('abc'), b => b.writeUInt16LE(400, 46)), [Status.INVALID_PARAMETER]],
    ['CREATE NameOffset past the end', Command.CREATE, at(createBody('abc'), b => b.writeUInt16LE(0xfff0, 44)), [Status.INVALID_PARAMETER]],
    ['CREATE NameOffset inside the fixed part', Command.CREATE, at(createBody('abc'), b => b.writeUInt16LE(64, 44)), [Status.INVALID_PARAMETER]],
    ['CREATE odd NameLength', Command.CREATE, at(createBody('abc'), b => b.writeUInt16LE(5, 46)), [Status.INVALID_PARAMETER]],
    ['CREATE contexts past the end', Command.CREATE, at(createBody('abc'), b => { b.writeUInt32LE(128, 48); b.writeUInt32LE(1000, 52) }), [Status.INVALID_PARAMETER]],
    ['CREATE contexts offset huge', Command.CREATE, at(createBody('abc'), b => { b.writeUInt32LE(0xfffffff8, 48); b.writeUInt32LE(16, 52) }), [Status.INVALID_PARAMETER]],
    ['WRITE Length past the end', Command.WRITE, at(writeBody(fid, 0, Buffer.from('abc')), b => b.writeUInt32LE(4000, 4)), [Status.INVALID_PARAMETER]],
    ['WRITE DataOffset past the end', Command.WRITE, at(writeBody(fid, 0, Buffer.from('abc')), b => b.writeUInt16LE(0xfff0, 2)), [Status.INVALID_PARAMETER]],
    ['WRITE DataOffset inside the header', Command.WRITE, at(writeBody(fid, 0, Buffer.from('abc')), b => b.writeUInt16LE(0, 2)), [Status.INVALID_PARAMETER]],
    ['WRITE Length 4 GiB - 1', Command.WRITE, at(writeBody(fid, 0, Buffer.from('abc')), b => b.writeUInt32LE(0xffffffff, 4)), [Status.INVALID_PARAMETER]],
    ['WRITE Offset past 2^63', Command.WRITE, at(writeBody(fid, 0, Buffer.from('abc')), b => b.writeBigUInt64LE(0xfffffffffffffff0n, 8)), [Status.INVALID_PARAMETER]],
    ['READ Offset past 2^63', Command.READ, at(readBody(fid, 0, 10), b => b.writeBigUInt64LE(0xfffffffffffffff0n, 8)), [Status.INVALID_PARAMETER]],
    ['READ Length 4 GiB - 1', Command.READ, at(readBody(fid, 0, 10), b => b.writeUInt32LE(0xffffffff, 4)), [Status.INVALID_PARAMETER]],
    ['SESSION_SETUP security buffer past the end', Command.SESSION_SETUP, at(sessionSetupBody(Buffer.alloc(8)), b => b.writeUInt16LE(500, 14)), [Status.INVALID_PARAMETER]],
    ['SESSION_SETUP security buffer offset 0', Command.SESSION_SETUP, at(sessionSetupBody(Buffer.alloc(8)), b => b.writeUInt16LE(0, 12)), [Status.INVALID_PARAMETER]],
    ['TREE_CONNECT path past the end', Command.TREE_CONNECT, at(treeConnectBody('\\\\x\\share'), b => b.writeUInt16LE(0x7ff0, 6)), [Status.INVALID_PARAMETER]],
    ['IOCTL input past the end', Command.IOCTL, at(ioctlBody(0x140204, { persistent: 0xffffffffffffffffn, volatile: 0xffffffffffffffffn }, Buffer.alloc(24)), b => b.writeUInt32LE(1000, 28)), [Status.INVALID_PARAMETER]],
    ['IOCTL input offset wraps', Command.IOCTL, at(ioctlBody(0x140204, { persistent: 0xffffffffffffffffn, volatile: 0xffffffffffffffffn }, Buffer.alloc(24)), b => b.writeUInt32LE(0xfffffff0, 24)), [Status.INVALID_PARAMETER]],
    ['QUERY_DIRECTORY pattern past the end', Command.QUERY_DIRECTORY, at(queryDirectoryBody(dir, '*'), b => b.writeUInt16LE(300, 26)), [Status.INVALID_PARAMETER]],
    ['QUERY_DIRECTORY pattern offset 0', Command.QUERY_DIRECTORY, at(queryDirectoryBody(dir, '*'), b => b.writeUInt16LE(0, 24)), [Status.INVALID_PARAMETER]],
    ['QUERY_DIRECTORY odd pattern length', Command.QUERY_DIRECTORY, at(queryDirectoryBody(dir, 'ab'), b => b.writeUInt16LE(3, 26)), [Status.INVALID_PARAMETER]],
    ['SET_INFO buffer past the end', Command.SET_INFO, at(setInfoBody(fid, 1, 4, Buffer.alloc(40)), b => b.writeUInt32LE(4000, 4)), [Status.INVALID_PARAMETER]],
    ['SET_INFO buffer too short for its class', Command.SET_INFO, setInfoBody(fid, 1, 4, Buffer.alloc(3)), [Status.INVALID_PARAMETER, Status.INFO_LENGTH_MISMATCH]],
    ['SET_INFO rename name past its buffer', Command.SET_INFO, at(setInfoBody(fid, 1, 10, Buffer.alloc(24)), b => b.writeUInt32LE(1000, 32 + 16)), [Status.INVALID_PARAMETER, Status.INFO_LENGTH_MISMATCH]],
    ['QUERY_INFO unknown InfoType', Command.QUERY_INFO, (() => { const b = Buffer.alloc(41); b.writeUInt16LE(41, 0); b[2] = 9; b.writeBigUInt64LE(fid.persistent, 24); b.writeBigUInt64LE(fid.volatile, 32); return b })(), [Status.INVALID_PARAMETER]],
  ]
  for (const [what, cmd, body, want] of cases) {
    const st = await send(c, c.message({ cmd, body, creditCharge: 1 }))
    t.equal(st.length, 1, `${what}: one response`)
    t.ok(want.includes(st[0]), `${what}: 0x${st[0]?.toString(16)} in [${want.map(x => '0x' + x.toString(16)).join(', ')}]`)
  }
  t.notOk(c.closed, 'bad offsets are answered, not fatal')
  t.equal((await c.echo()).status, 0)

  // NEGOTIATE with bad offsets: the connection is not negotiated, answers INVALID_PARAMETER
  const negs: Array<[string, Buffer]> = [
    ['DialectCount past the end', at(negotiateBody({ dialects: [0x0300] }), b => b.writeUInt16LE(300, 2))],
    ['DialectCount 0', at(negotiateBody({ dialects: [0x0300] }), b => b.writeUInt16LE(0, 2))],
    ['3.1.1 context offset past the end', at(negotiateBody({ dialects: [0x0311] }), b => b.writeUInt32LE(0xfff8, 28))],
    ['3.1.1 context count too large', at(negotiateBody({ dialects: [0x0311] }), b => b.writeUInt16LE(50, 32))],
    ['3.1.1 context DataLength past the end', at(negotiateBody({ dialects: [0x0311] }), b => b.writeUInt16LE(0xffff, ((64 + 38 + 7) & ~7) - 64 + 2))],
  ]
  for (const [what, body] of negs) {
    const n = new MemClient(srv.state)
    const st = await send(n, n.message({ cmd: Command.NEGOTIATE, body }))
    t.same(st, [Status.INVALID_PARAMETER], `NEGOTIATE ${what}`)
    t.notOk(n.closed)
  }
  await stillServes(t, 'bad offsets')
})

t.test('compound framing: NextCommand misaligned, past the end, too small', async (t) => {
  const mk = (c: MemClient, next: number, secondLen = 68): Buffer => {
    const a = c.message({ cmd: Command.ECHO, body: smallBody() })
    const first = Buffer.concat([a, Buffer.alloc(4)]) // 72 bytes, 8-aligned
    first.writeUInt32LE(next, 20)
    const b = c.message({ cmd: Command.ECHO, body: smallBody() })
    return Buffer.concat([first, b.subarray(0, secondLen)])
  }
  const cases: Array<[string, (c: MemClient) => Buffer]> = [
    ['NextCommand 68 (not 8-aligned)', (c) => mk(c, 68)],
    ['NextCommand past the end', (c) => mk(c, 4096)],
    ['NextCommand 8 (inside the header)', (c) => mk(c, 8)],
    ['NextCommand 0xfffffff8', (c) => mk(c, 0xfffffff8)],
    ['second message truncated to 40 bytes', (c) => mk(c, 72, 40)],
    ['second message is not SMB2', (c) => { const b = mk(c, 72); b.writeUInt32LE(0x41414141, 72); return b }],
    ['second message header StructureSize 0', (c) => { const b = mk(c, 72); b.writeUInt16LE(0, 76); return b }],
  ]
  for (const [what, make] of cases) {
    const c = await new MemClient(srv.state).connect()
    t.same(await send(c, make(c)), [], `${what}: no response`)
    t.ok(c.closed, `${what}: closed`)
  }
  // padding: an 8-aligned chain with junk in the padding is fine
  const c = await new MemClient(srv.state).connect()
  const a = Buffer.concat([c.message({ cmd: Command.ECHO, body: smallBody() }), Buffer.alloc(4, 0xee)])
  a.writeUInt32LE(72, 20)
  const st = await send(c, Buffer.concat([a, c.message({ cmd: Command.ECHO, body: smallBody() })]))
  t.same(st, [0, 0], 'padding bytes are ignored')
  // a chain whose last message carries trailing bytes
  const st2 = await send(c, Buffer.concat([c.message({ cmd: Command.ECHO, body: smallBody() }), Buffer.alloc(13)]))
  t.same(st2, [0], 'trailing bytes after the last message are ignored')
  await stillServes(t, 'bad compounds')
})

t.test('every valid request cut at every length: always an answer or a close, never a throw', async (t) => {
  const { c: base, fid, dir } = await session()
  const bodies: Array<[number, Buffer]> = [
    [Command.CREATE, createBody('cut.txt', { disposition: Disposition.OPEN_IF })],
    [Command.WRITE, writeBody(fid, 0, Buffer.from('0123456789'))],
    [Command.READ, readBody(fid, 0, 10)],
    [Command.QUERY_DIRECTORY, queryDirectoryBody(dir, '*', 37, 1)],
    [Command.SET_INFO, setInfoBody(fid, 1, 20, Buffer.alloc(8))],
    [Command.IOCTL, ioctlBody(0x140204, { persistent: 0xffffffffffffffffn, volatile: 0xffffffffffffffffn }, Buffer.alloc(26))],
    [Command.TREE_CONNECT, treeConnectBody('\\\\x\\share')],
  ]
  let answered = 0
  let closed = 0
  let c = base
  for (const [cmd, body] of bodies) {
    const whole = c.message({ cmd, body })
    for (let cut = 0; cut <= whole.length; cut++) {
      if (c.closed) c = await new MemClient(srv.state).connect()
      const msg = c.message({ cmd, body })
      const st = await send(c, msg.subarray(0, cut))
      if (st.length > 0) answered++
      else if (c.closed) closed++
      else t.fail(`cmd ${cmd} cut at ${cut}: neither answered nor closed`)
    }
  }
  t.ok(answered > 0 && closed > 0, `answered ${answered}, closed ${closed}`)
  await stillServes(t, 'truncations')
})

t.test('random bytes after a valid header: never a throw', async (t) => {
  let seed = 12345
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed }
  let c = await new MemClient(srv.state).connect()
  for (let i = 0; i < 400; i++) {
    if (c.closed) c = await new MemClient(srv.state).connect()
    const cmd = rnd() % 0x14
    const len = rnd() % 200
    const body = Buffer.alloc(len)
    for (let j = 0; j < len; j++) body[j] = rnd() & 0xff
    if (len >= 2 && rnd() % 2 === 0) body.writeUInt16LE([36, 25, 4, 9, 4, 57, 24, 24, 49, 49, 48, 57, 4, 4, 33, 32, 41, 33, 24, 4][cmd], 0)
    const msg = c.message({ cmd: cmd === Command.NEGOTIATE || cmd === Command.CANCEL ? Command.ECHO : cmd, body })
    const st = await send(c, msg)
    t.ok(st.length > 0 || c.closed, `case ${i}`)
  }
  await stillServes(t, 'random bodies')
})
