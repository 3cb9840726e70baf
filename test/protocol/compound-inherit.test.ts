// MS-SMB2 3.3.5.2.7.2: what a related request inherits from the one before it: the TreeId a
// TREE_CONNECT generates, the FileId a CREATE generates, and INVALID_PARAMETER when the previous
// request left no session or tree to inherit.
//
// Backend: memory (the default); nothing here depends on a file system.
import t from 'tap'
import {
  ALL_ONES_FID, closeBody, Command, createBody, Disposition, MemClient, memServer, Status, treeConnectBody,
} from '../helpers/mem-client.js'

const INVALID_PARAMETER = 0xc000000d
const USER_SESSION_DELETED = 0xc0000203

t.test('TREE_CONNECT then related CREATE and CLOSE use the new tree and the new file', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const rs = await c.send(
    { cmd: Command.TREE_CONNECT, body: treeConnectBody('\\\\mem\\share'), treeId: 0 },
    { cmd: Command.CREATE, body: createBody('inherit.txt', { disposition: Disposition.CREATE }), related: true },
    { cmd: Command.CLOSE, body: closeBody(ALL_ONES_FID), related: true }
  )
  t.same(rs.map(r => r.status), [0, 0, 0], 'all three succeed')
  t.not(rs[0].hdr.treeId, c.treeId, 'a second tree connect')
  t.equal(rs[1].hdr.treeId, rs[0].hdr.treeId, 'the CREATE ran on the tree just connected')
  t.equal(srv.state.sessions.get(c.sessionId)!.opens.size, 0, 'the related CLOSE closed the created file')
})

t.test('a related request after one whose session failed gets INVALID_PARAMETER', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const fid = await c.open('s.txt', { disposition: Disposition.CREATE })
  const rs = await c.send(
    { cmd: Command.CLOSE, body: closeBody(fid), sessionId: 0xfffffffffffffffen },
    { cmd: Command.CLOSE, body: closeBody(ALL_ONES_FID), related: true }
  )
  t.same(rs.map(r => r.status), [USER_SESSION_DELETED, INVALID_PARAMETER])
  t.equal(srv.state.sessions.get(c.sessionId)!.opens.size, 1, 'nothing was closed')
})

t.test('a related request after a failed CREATE on a valid tree carries the CREATE error', async (t) => {
  const srv = memServer()
  t.teardown(srv.cleanup)
  const c = await new MemClient(srv.state).connect()
  const rs = await c.send(
    { cmd: Command.CREATE, body: createBody('nope.txt', { disposition: Disposition.OPEN }) },
    { cmd: Command.CLOSE, body: closeBody(ALL_ONES_FID), related: true }
  )
  t.same(rs.map(r => r.status), [Status.OBJECT_NAME_NOT_FOUND, Status.OBJECT_NAME_NOT_FOUND])
})
