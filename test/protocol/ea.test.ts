// Extended attributes through the whole server in memory (src/smb2/commands/ea-info.ts): SET_INFO
// and QUERY_INFO FileFullEaInformation with the EA-list / index / restart / single-entry rules,
// whole entries and the buffer statuses, the ExtA create context, FileEaInformation's EaSize,
// FILE_SUPPORTS_EXTENDED_ATTRIBUTES, the names a server keeps for itself, `ea support = no`; on the
// memory backend and on posix, where each EA is the `user.NAME` xattr Samba would keep.
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { readdirSync } from 'node:fs'
import { Command, createBody, Disposition, fileIdOf, MemClient, memServer, outputBuffer, queryDirectoryBody, type FileId, type Resp } from '../helpers/mem-client.js'
import { native } from '../../src/io/native.js'
import { SMB2_HEADER_SIZE } from '../../src/wire/constants.js'
import { encodeFileFullEaInformation, decodeFileFullEaInformation } from '../../src/wire/fscc/set-info.js'
import { encodeFileGetEaInformation } from '../../src/wire/fscc/get-ea.js'
import { NtStatus } from '../../src/wire/ntstatus.js'

const INFO_FILE = 1
const INFO_FILESYSTEM = 2
const FileEaInformation = 7
const FileFullEaInformation = 15
const FileAllInformation = 18
const FileFsAttributeInformation = 5
const FILE_SUPPORTS_EXTENDED_ATTRIBUTES = 0x00800000
const SL_RESTART_SCAN = 1
const SL_RETURN_SINGLE_ENTRY = 2
const SL_INDEX_SPECIFIED = 4
const H = SMB2_HEADER_SIZE

const ea = (name: string, value: string): { flags: number, name: string, value: Buffer } => ({ flags: 0, name, value: Buffer.from(value) })
const entries = (r: Resp): Array<[string, string]> => {
  const b = outputBuffer(r)
  return b.length === 0 ? [] : decodeFileFullEaInformation(b).map(e => [e.name, e.value.toString()])
}

/** QUERY_INFO FileFullEaInformation with an input buffer, Flags and AdditionalInformation (MS-SMB2 2.2.37). */
function queryEa (c: MemClient, fid: FileId, o: { names?: string[], flags?: number, index?: number, outLen?: number } = {}): Promise<Resp> {
  const input = o.names !== undefined ? encodeFileGetEaInformation(o.names) : Buffer.alloc(0)
  const b = Buffer.alloc(40 + Math.max(input.length, 1))
  b.writeUInt16LE(41, 0); b[2] = INFO_FILE; b[3] = FileFullEaInformation; b.writeUInt32LE(o.outLen ?? 65536, 4)
  if (input.length > 0) { b.writeUInt16LE(H + 40, 8); b.writeUInt32LE(input.length, 12); input.copy(b, 40) }
  b.writeUInt32LE(o.index ?? 0, 16); b.writeUInt32LE(o.flags ?? 0, 20)
  b.writeBigUInt64LE(fid.persistent, 24); b.writeBigUInt64LE(fid.volatile, 32)
  return c.request({ cmd: Command.QUERY_INFO, body: b })
}

/** A CREATE carrying one ExtA context with `eas` (MS-SMB2 2.2.13.2.1). */
function createWithEas (c: MemClient, name: string, eas: Buffer, disposition: number = Disposition.OPEN_IF): Promise<Resp> {
  const plain = createBody(name, { disposition })
  const nameLen = plain.readUInt16LE(46)
  const ctxOff = (56 + nameLen + 7) & ~7
  const b = Buffer.alloc(ctxOff + 24 + eas.length)
  plain.copy(b, 0, 0, 56 + nameLen)
  b.writeUInt32LE(H + ctxOff, 48); b.writeUInt32LE(24 + eas.length, 52)
  b.writeUInt16LE(16, ctxOff + 4); b.writeUInt16LE(4, ctxOff + 6); b.writeUInt16LE(24, ctxOff + 10); b.writeUInt32LE(eas.length, ctxOff + 12)
  b.write('ExtA', ctxOff + 16, 'latin1')
  eas.copy(b, ctxOff + 24)
  return c.request({ cmd: Command.CREATE, body: b })
}

async function setup (t: Test, backend: 'memory' | 'posix', shareLines: string[] = []): Promise<{ c: MemClient, share: string }> {
  const srv = memServer({ backend, shareLines })
  t.teardown(srv.cleanup)
  return { c: await new MemClient(srv.state).connect(), share: srv.share }
}

for (const backend of ['memory', 'posix'] as const) {
  t.test(`set, list, case-insensitive names, removal [${backend}]`, async (t) => {
    const { c, share } = await setup(t, backend)
    const fid = await c.open('f.txt', { disposition: Disposition.CREATE })
    t.equal((await queryEa(c, fid)).status, NtStatus.NO_EAS_ON_FILE, 'none yet: STATUS_NO_EAS_ON_FILE')
    const set = await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('Colour', 'blue'), ea('size', 'large')]))
    t.equal(set.status, 0)
    // In the order the file system lists them (listxattr, as Samba): ext4 lists an xattr that went to
    // the inode before one that went to its block, so the order is not asserted.
    const sorted = (l: string[][]): string[][] => [...l].sort((x, y) => x[0]!.localeCompare(y[0]!))
    t.same(sorted(entries(await queryEa(c, fid, { flags: SL_RESTART_SCAN }))), [['Colour', 'blue'], ['size', 'large']], 'both, as spelled')
    t.equal((await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('COLOUR', 'red')]))).status, 0)
    t.same(sorted(entries(await queryEa(c, fid, { flags: SL_RESTART_SCAN }))), [['Colour', 'red'], ['size', 'large']], 'a name matches ignoring case and keeps its first spelling')
    const eaSize = outputBuffer(await c.queryInfo(fid, INFO_FILE, FileEaInformation)).readUInt32LE(0)
    t.equal(eaSize, ((8 + 6 + 1 + 3 + 3) & ~3) + 8 + 4 + 1 + 5, 'FileEaInformation: the size of the list (the first entry padded to 4)')
    t.equal(outputBuffer(await c.queryInfo(fid, INFO_FILE, FileAllInformation, 4096)).readUInt32LE(72), eaSize, 'FileAllInformation: the same EaSize')
    if (backend === 'posix') {
      const fd = await native.openat2(native.constants.AT_FDCWD, join(share, 'f.txt'), native.constants.O_RDONLY, 0, 0)
      t.teardown(() => native.close(fd))
      t.same((await native.fgetxattr(fd, 'user.Colour')).toString(), 'red', 'kept as Samba keeps it: user.<name>')
    }
    t.equal((await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('colour', ''), ea('nothere', '')]))).status, 0,
      'an empty value removes (an absent one too)')
    t.same(entries(await queryEa(c, fid, { flags: SL_RESTART_SCAN })), [['size', 'large']])
  })

  t.test(`scan position, index, single entry, EA list [${backend}]`, async (t) => {
    const { c } = await setup(t, backend)
    const fid = await c.open('f.txt', { disposition: Disposition.CREATE })
    await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('a', '1'), ea('b', '22'), ea('c', '333')]))
    t.same(entries(await queryEa(c, fid, { flags: SL_RETURN_SINGLE_ENTRY })), [['a', '1']], 'single entry: the first')
    t.same(entries(await queryEa(c, fid, { flags: SL_RETURN_SINGLE_ENTRY })), [['b', '22']], 'the scan goes on from there')
    t.same(entries(await queryEa(c, fid)), [['c', '333']], 'then the rest')
    t.equal((await queryEa(c, fid)).status, NtStatus.NO_MORE_EAS, 'past the last: STATUS_NO_MORE_EAS')
    t.same(entries(await queryEa(c, fid, { flags: SL_RESTART_SCAN })), [['a', '1'], ['b', '22'], ['c', '333']], 'restart: all')
    t.same(entries(await queryEa(c, fid, { flags: SL_INDEX_SPECIFIED, index: 2 })), [['b', '22'], ['c', '333']], 'index 2 (1-based)')
    t.equal((await queryEa(c, fid, { flags: SL_INDEX_SPECIFIED, index: 4 })).status, NtStatus.NONEXISTENT_EA_ENTRY, 'an index past the last')
    t.equal((await queryEa(c, fid, { flags: SL_INDEX_SPECIFIED, index: 0 })).status, NtStatus.NONEXISTENT_EA_ENTRY, 'index 0')
    t.same(entries(await queryEa(c, fid, { names: ['C', 'missing', 'a'] })), [['c', '333'], ['missing', ''], ['a', '1']],
      'an EA list: those, in its order, a missing one empty')
    const bad = encodeFileGetEaInformation(['a'])
    bad[4] = 9 // EaNameLength past the buffer
    const r = await c.request({ cmd: Command.QUERY_INFO, body: (() => { const b = Buffer.alloc(40 + bad.length); b.writeUInt16LE(41, 0); b[2] = 1; b[3] = 15; b.writeUInt32LE(4096, 4); b.writeUInt16LE(H + 40, 8); b.writeUInt32LE(bad.length, 12); b.writeBigUInt64LE(fid.persistent, 24); b.writeBigUInt64LE(fid.volatile, 32); bad.copy(b, 40); return b })() })
    t.equal(r.status, NtStatus.EA_LIST_INCONSISTENT, 'a malformed EA list: STATUS_EA_LIST_INCONSISTENT')
  })

  t.test(`whole entries only: BUFFER_OVERFLOW, BUFFER_TOO_SMALL [${backend}]`, async (t) => {
    const { c } = await setup(t, backend)
    const fid = await c.open('f.txt', { disposition: Disposition.CREATE })
    await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('aa', 'xxxx'), ea('bb', 'yyyy')]))
    // One entry: 8 + 2 + 1 + 4 = 15 bytes (16 padded); both: 31.
    const r = await queryEa(c, fid, { flags: SL_RESTART_SCAN, outLen: 30 })
    t.equal(r.status, NtStatus.BUFFER_OVERFLOW, 'the second does not fit')
    t.same(entries(r), [['aa', 'xxxx']], 'the first is there, whole')
    t.same(entries(await queryEa(c, fid, { outLen: 30 })), [['bb', 'yyyy']], 'the next call goes on with the second')
    t.equal((await queryEa(c, fid, { flags: SL_RESTART_SCAN, outLen: 14 })).status, NtStatus.BUFFER_TOO_SMALL, 'not even one: STATUS_BUFFER_TOO_SMALL')
    t.equal((await queryEa(c, fid, { flags: SL_RESTART_SCAN, outLen: 31 })).status, 0, 'exactly enough')
  })

  t.test(`names the server keeps, bad names, access [${backend}]`, async (t) => {
    const { c } = await setup(t, backend)
    const fid = await c.open('f.txt', { disposition: Disposition.CREATE })
    for (const name of ['DOSATTRIB', 'dosattrib', 'DosStream.x', 'SAMBA_PAI', 'smbts.dos']) {
      t.equal((await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea(name, 'v')]))).status, NtStatus.ACCESS_DENIED, `${name}: ACCESS_DENIED, as Samba`)
    }
    const badName = encodeFileFullEaInformation([ea('a', 'v')])
    badName[8] = '*'.charCodeAt(0)
    t.equal((await c.setInfo(fid, INFO_FILE, FileFullEaInformation, badName)).status, NtStatus.INVALID_EA_NAME)
    t.equal((await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('x'.repeat(251), 'v')]))).status,
      NtStatus.INVALID_EA_NAME, 'user. + name past XATTR_NAME_MAX')
    await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('ok', 'v')]))
    t.same(entries(await queryEa(c, fid, { flags: SL_RESTART_SCAN })), [['ok', 'v']], 'the DOS record and others are not listed')
    const ro = await c.open('f.txt', { access: 0x80 /* FILE_READ_ATTRIBUTES */, disposition: Disposition.OPEN })
    t.equal((await queryEa(c, ro)).status, NtStatus.ACCESS_DENIED, 'no FILE_READ_EA')
    t.equal((await c.setInfo(ro, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('ok', 'w')]))).status, NtStatus.ACCESS_DENIED, 'no FILE_WRITE_EA')
  })

  t.test(`the ExtA create context [${backend}]`, async (t) => {
    const { c } = await setup(t, backend)
    const eas = encodeFileFullEaInformation([ea('EAONE', 'VALUE1'), ea('SECONDEA', 'ValueTwo')])
    const r = await createWithEas(c, 'new.txt', eas, Disposition.CREATE)
    t.equal(r.status, 0)
    t.same(entries(await queryEa(c, fileIdOf(r))), [['EAONE', 'VALUE1'], ['SECONDEA', 'ValueTwo']], 'a new file has them')
    const opened = await createWithEas(c, 'new.txt', encodeFileFullEaInformation([ea('third', '3')]), Disposition.OPEN)
    t.same(entries(await queryEa(c, fileIdOf(opened))).map(e => e[0]), ['EAONE', 'SECONDEA'], 'an open of what exists ignores them')
    const over = await createWithEas(c, 'new.txt', encodeFileFullEaInformation([ea('third', '3')]), Disposition.OVERWRITE_IF)
    t.ok(entries(await queryEa(c, fileIdOf(over))).some(e => e[0] === 'third'), 'an overwrite applies them')
    t.equal((await createWithEas(c, 'bad.txt', encodeFileFullEaInformation([ea('DOSATTRIB', 'x')]), Disposition.CREATE)).status, NtStatus.ACCESS_DENIED)
    t.equal((await c.create('bad.txt', { disposition: Disposition.OPEN })).status, NtStatus.OBJECT_NAME_NOT_FOUND, 'a refused ExtA leaves no file')
    const d = await createWithEas(c, 'dir', eas, Disposition.CREATE)
    t.equal(d.status, 0, 'a directory may have EAs too')
  })

  t.test(`volume attributes; ea support = no [${backend}]`, async (t) => {
    const on = await setup(t, backend)
    const root = await on.c.open('', { disposition: Disposition.OPEN, options: 1 })
    const attrs = (r: Resp): number => outputBuffer(r).readUInt32LE(0)
    t.equal(attrs(await on.c.queryInfo(root, INFO_FILESYSTEM, FileFsAttributeInformation)) & FILE_SUPPORTS_EXTENDED_ATTRIBUTES, FILE_SUPPORTS_EXTENDED_ATTRIBUTES)
    const off = await setup(t, backend, ['ea support = no'])
    const root2 = await off.c.open('', { disposition: Disposition.OPEN, options: 1 })
    t.equal(attrs(await off.c.queryInfo(root2, INFO_FILESYSTEM, FileFsAttributeInformation)) & FILE_SUPPORTS_EXTENDED_ATTRIBUTES, 0)
    const fid = await off.c.open('f.txt', { disposition: Disposition.CREATE })
    t.equal((await off.c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('a', 'b')]))).status, NtStatus.EAS_NOT_SUPPORTED)
    t.equal((await createWithEas(off.c, 'g.txt', encodeFileFullEaInformation([ea('a', 'b')]), Disposition.CREATE)).status, NtStatus.EAS_NOT_SUPPORTED, 'ExtA too (smbtorture then creates without)')
    t.equal((await queryEa(off.c, fid)).status, NtStatus.NO_EAS_ON_FILE)
    if (backend === 'posix') t.notOk(readdirSync(off.share).includes('g.txt'), 'no file left by the refused CREATE')
  })
}

for (const backend of ['memory', 'posix'] as const) {
  t.test(`directory listings report the EaSize FileEaInformation does [${backend}]`, async (t) => {
    const { c } = await setup(t, backend)
    const fid = await c.open('eas.txt', { disposition: Disposition.CREATE })
    const dir = await c.open('', { disposition: Disposition.OPEN, access: 0x1 | 0x80, options: 1 })
    const listed = async (infoClass: number): Promise<number> => {
      const r = await c.request({ cmd: Command.QUERY_DIRECTORY, body: queryDirectoryBody(dir, 'eas.txt', infoClass, 0x01 /* RESTART_SCANS */) })
      t.equal(r.status, 0)
      return r.body.readUInt32LE(8 + 64) // EaSize, at 64 in FileFull/FileIdBoth/FileIdFull entries
    }
    t.equal(await listed(2), 0, 'no EAs: 0')
    t.equal((await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('Colour', 'blue'), ea('size', 'large')]))).status, 0)
    const eaSize = outputBuffer(await c.queryInfo(fid, INFO_FILE, FileEaInformation)).readUInt32LE(0)
    t.ok(eaSize > 0)
    for (const infoClass of [2 /* FileFullDirectoryInformation */, 3 /* FileBothDirectoryInformation */, 37 /* FileIdBothDirectoryInformation */, 38]) {
      t.equal(await listed(infoClass), eaSize, `class ${infoClass}: the file's EaSize`)
    }
    t.equal((await c.setInfo(fid, INFO_FILE, FileFullEaInformation, encodeFileFullEaInformation([ea('Colour', ''), ea('size', '')]))).status, 0)
    t.equal(await listed(2), 0, 'every EA removed: 0 again')
  })
}
