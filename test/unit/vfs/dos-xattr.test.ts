// The user.DOSATTRIB codec (src/vfs/dos-xattr.ts): Samba's NDR xattr_DOSATTRIB of every version
// (the v5 values Samba 4.17 wrote on this machine are in test/fixtures/samba-dosattrib), the v4
// value smbts writes (what ksmbd writes and reads) with smbts's tail, the legacy user.smbts.dos
// record, and that anything not readable reads as "no record" instead of throwing or misreporting.
import t from 'tap'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  DOS_STORED_ATTRIBUTES, DOS_XATTR_NAME, DOS_XATTR_READ_NAMES, DOSATTRIB_SMBTS_MAX_SIZE, DOSATTRIB_SMBTS_MIN_SIZE, CREATOR_ANONYMOUS, LEGACY_DOS_XATTR_NAME,
  decodeDosRecord, encodeDosRecord, type DosRecord,
} from '../../../src/vfs/dos-xattr.js'
import {
  FILE_ATTRIBUTE_ARCHIVE as ARCHIVE, FILE_ATTRIBUTE_DIRECTORY as DIRECTORY, FILE_ATTRIBUTE_HIDDEN as HIDDEN,
  FILE_ATTRIBUTE_NORMAL as NORMAL, FILE_ATTRIBUTE_READONLY as READONLY, FILE_ATTRIBUTE_SYSTEM as SYSTEM,
} from '../../../src/wire/fscc/constants.js'
import { filetimeFromUnixNs } from '../../../src/wire/filetime.js'

const fixture = (name: string): Buffer => readFileSync(join(import.meta.dirname, '../../fixtures/samba-dosattrib', name))

t.test('names: Samba\'s and ksmbd\'s, the legacy one read after it', async (t) => {
  t.equal(DOS_XATTR_NAME, 'user.DOSATTRIB')
  t.equal(LEGACY_DOS_XATTR_NAME, 'user.smbts.dos')
  t.equal(DOS_XATTR_READ_NAMES, 'user.DOSATTRIB\nuser.smbts.dos', 'the addon\'s list form, current name first')
})

t.test('values Samba 4.17 wrote (v5): attributes and creation time', async (t) => {
  const plain = fixture('plain.bin')
  t.equal(plain.toString('hex').slice(0, 24), '000005000500000011000000', '"" | version 5 | level 5 | valid ATTRIB|CREATE_TIME')
  t.same(decodeDosRecord(plain), { fileAttributes: ARCHIVE, creationTime: plain.readBigUInt64LE(16), origin: 'foreign' })
  t.equal(decodeDosRecord(fixture('attrs.bin'))!.fileAttributes, HIDDEN | SYSTEM | ARCHIVE, 'setmode +hs')
  t.equal(decodeDosRecord(fixture('ro.bin'))!.fileAttributes, READONLY | ARCHIVE, 'setmode +r: READONLY is in the record')
  t.equal(decodeDosRecord(fixture('dir1.bin'))!.fileAttributes, HIDDEN, 'a directory: DIRECTORY is not a stored bit')
  // smbclient `utimes ct.txt 2001:02:03-04:05:06`
  t.equal(decodeDosRecord(fixture('ct.bin'))!.creationTime, filetimeFromUnixNs(BigInt(Date.UTC(2001, 1, 3, 4, 5, 6)) * 1_000_000n))
  t.notOk('writeAnchorNs' in decodeDosRecord(plain)!, 'another server\'s record has no anchor')
})

// The older versions, laid out as Samba's NDR pushes them (xattr.idl): string, version, level, struct.
function ndr (hex: string, version: number, body: Buffer): Buffer {
  const head = Buffer.from(hex + '\0', 'latin1')
  const vAt = (head.length + 1) & ~1
  const bodyAt = (vAt + 4 + 3) & ~3
  const b = Buffer.alloc(bodyAt + body.length)
  head.copy(b)
  b.writeUInt16LE(version, vAt)
  b.writeUInt16LE(version, vAt + 2)
  body.copy(b, bodyAt)
  return b
}
function fields (...v: Array<number | bigint>): Buffer {
  return Buffer.concat(v.map(x => {
    const f = Buffer.alloc(typeof x === 'bigint' ? 8 : 4)
    if (typeof x === 'bigint') f.writeBigUInt64LE(x); else f.writeUInt32LE(x)
    return f
  }))
}

t.test('older versions Samba and ksmbd read: 0xFFFF (hex only), 1, 2, 3, 4', async (t) => {
  const ct = 0x01C0_8D96_7DB5_0500n
  t.same(decodeDosRecord(Buffer.from('0x22\0', 'latin1')), { fileAttributes: HIDDEN | ARCHIVE, origin: 'foreign' }, 'the hex string alone')
  t.same(decodeDosRecord(Buffer.from('26\0', 'latin1')), { fileAttributes: HIDDEN | SYSTEM | ARCHIVE, origin: 'foreign' }, 'hex without 0x (%x)')
  t.same(decodeDosRecord(ndr('0x22', 1, fields(0x22, 0, 5n, 4096n, ct, 7n))),
    { fileAttributes: HIDDEN | ARCHIVE, creationTime: ct, origin: 'foreign' }, 'v1')
  t.same(decodeDosRecord(ndr('0x22', 1, fields(0x22, 0, 5n, 4096n, 0n, 7n))),
    { fileAttributes: HIDDEN | ARCHIVE, origin: 'foreign' }, 'v1, create_time 0: none')
  t.same(decodeDosRecord(ndr('0x4', 2, Buffer.concat([fields(1, 4, 0, 0n, 0n, ct, 0n, 0n), Buffer.from('name\0')]))),
    { fileAttributes: SYSTEM, origin: 'foreign' }, 'v2: the attributes only, as Samba reads it')
  t.same(decodeDosRecord(ndr('0x20', 3, fields(0x11, 0x20, 0, 5n, 4096n, ct, 9n))),
    { fileAttributes: ARCHIVE, creationTime: ct, origin: 'foreign' }, 'v3')
  t.same(decodeDosRecord(ndr('0x20', 3, fields(0x01, 0x20, 0, 5n, 4096n, ct, 9n))),
    { fileAttributes: ARCHIVE, origin: 'foreign' }, 'v3 without CREATE_TIME in valid_flags')
  t.same(decodeDosRecord(ndr('', 4, fields(0x51, 0x2, ct, ct))),
    { fileAttributes: HIDDEN, creationTime: ct, origin: 'foreign' }, 'v4 as ksmbd writes it')
})

t.test('smbts writes v4 + its tail: byte layout, and Samba\'s reading of it is the v4 struct', async (t) => {
  const rec: DosRecord = {
    fileAttributes: HIDDEN | SYSTEM | READONLY,
    creationTime: 0x01DB_0000_1234_5678n,
    changeTime: 0x01DC_0000_0000_0001n,
    writeAnchorNs: -5n, // a pre-1970 mtime
    creator: { rid: 0x0123_4567, mode: 0o44 },
  }
  const b = encodeDosRecord(rec)
  t.equal(b.length, DOSATTRIB_SMBTS_MAX_SIZE, 'the longest record: 60 bytes, what a 256-byte ext4 inode keeps inside')
  t.equal(b.toString('hex'), [
    '0000', '0400', '04000000', // "" + pad, version 4, level 4 + pad
    '51000000', // ATTRIB | CREATE_TIME | ITIME
    '07000000', // READONLY | HIDDEN | SYSTEM
    '78563412' + '0000db01', // itime = CreationTime (as ksmbd)
    '78563412' + '0000db01', // create_time
    '53', '02', '03', '24', // 'S', tail version 2, ChangeTime and Creator present, CreatorMode 044
    'ffffffffffffffff', 'fbc99a3b', // anchor: second -1 + 999999995 ns
    '67452301', // Creator
    '01000000' + '0000dc01', // ChangeTime
  ].join(''))
  t.same(decodeDosRecord(b), { ...rec, origin: 'smbts' })
  t.same(decodeDosRecord(b.subarray(0, 32)), { fileAttributes: rec.fileAttributes, creationTime: rec.creationTime, origin: 'foreign' },
    'the v4 struct alone, as Samba and ksmbd see it')
  t.equal(encodeDosRecord({ fileAttributes: HIDDEN }, true).readUInt32LE(12), HIDDEN | DIRECTORY, 'a directory\'s stored attributes carry DIRECTORY, as Samba\'s')
  const none = encodeDosRecord({ fileAttributes: 0 })
  t.equal(none.length, DOSATTRIB_SMBTS_MIN_SIZE, 'nothing optional: 48 bytes')
  t.equal(none.readUInt32LE(8), 0x01, 'no creation time: valid_flags ATTRIB only')
  t.same(decodeDosRecord(none), { fileAttributes: 0, writeAnchorNs: 0n, origin: 'smbts' })
  const withEas = encodeDosRecord({ ...rec, eaSize: 0x1234 })
  t.equal(withEas.length, 64, 'EaSize too: 64 bytes (a file with EAs has them beside it anyway)')
  t.equal(withEas.readUInt32LE(60), 0x1234, 'EaSize last')
  t.same(decodeDosRecord(withEas), { ...rec, eaSize: 0x1234, origin: 'smbts' })
  const anon = encodeDosRecord({ fileAttributes: ARCHIVE, creator: { rid: CREATOR_ANONYMOUS, mode: 0o77 }, writeAnchorNs: 1n })
  t.equal(anon.length, 52)
  t.same(decodeDosRecord(anon), { fileAttributes: ARCHIVE, creator: { rid: CREATOR_ANONYMOUS, mode: 0o77 }, writeAnchorNs: 1n, origin: 'smbts' }, 'a Creator of 0 (anonymous) is kept')
})

t.test('the tail earlier smbts versions wrote (version 1, 64 bytes) is still read', async (t) => {
  const b = Buffer.from([
    '0000', '0400', '04000000', '51000000', '07000000', '78563412' + '0000db01', '78563412' + '0000db01',
    '534d5453', '0100', '0100', '01000000' + '0000dc01', 'ffffffffffffffff', 'fbc99a3b', '00000000',
  ].join(''), 'hex')
  t.same(decodeDosRecord(b), {
    fileAttributes: HIDDEN | SYSTEM | READONLY, creationTime: 0x01DB_0000_1234_5678n, changeTime: 0x01DC_0000_0000_0001n, writeAnchorNs: -5n, origin: 'smbts',
  })
  for (let n = 32; n < 64; n++) t.equal(decodeDosRecord(b.subarray(0, n))?.origin, 'foreign', `cut to ${n}: the v4 struct, no tail`)
})

t.test('property: decode(encode(r)) = r for every storable record', async (t) => {
  const filetime = fc.bigInt({ min: 1n, max: 2n ** 63n - 1n })
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 0xFFFF_FFFF }), fc.option(filetime, { nil: undefined }), fc.option(filetime, { nil: undefined }),
    fc.bigInt({ min: -(2n ** 63n) * 1_000_000_000n, max: (2n ** 63n - 1n) * 1_000_000_000n }), fc.boolean(),
    fc.option(fc.record({ rid: fc.integer({ min: 0, max: 0xFFFF_FFFF }), mode: fc.integer({ min: 0, max: 0o77 }) }), { nil: undefined }),
    fc.option(fc.integer({ min: 0, max: 0xFFFF_FFFF }), { nil: undefined }),
    (attrs, creationTime, changeTime, writeAnchorNs, dir, creator, eaSize) => {
      const r: DosRecord = { fileAttributes: attrs, writeAnchorNs }
      if (creationTime !== undefined) r.creationTime = creationTime
      if (changeTime !== undefined) r.changeTime = changeTime
      if (creator !== undefined) r.creator = creator
      if (eaSize !== undefined) r.eaSize = eaSize
      const b = encodeDosRecord(r, dir)
      const back = decodeDosRecord(b)!
      return b.length <= DOSATTRIB_SMBTS_MAX_SIZE + (eaSize !== undefined ? 4 : 0) && back.eaSize === eaSize && back.fileAttributes === (attrs & DOS_STORED_ATTRIBUTES) && back.writeAnchorNs === writeAnchorNs &&
        back.creationTime === creationTime && back.changeTime === changeTime && back.creator?.rid === creator?.rid && back.creator?.mode === creator?.mode && back.origin === 'smbts'
    }))
  t.pass('100 random records')
})

t.test('only the storable attribute bits survive', async (t) => {
  const b = encodeDosRecord({ fileAttributes: 0xFFFF_FFFF, writeAnchorNs: 0n })
  t.equal(b.readUInt32LE(12), DOS_STORED_ATTRIBUTES, 'encode masks')
  t.equal(DOS_STORED_ATTRIBUTES & (DIRECTORY | NORMAL), 0, 'DIRECTORY and NORMAL are never read back')
  b.writeUInt32LE(0xFFFF_FFFF, 12) // written by someone else
  t.equal(decodeDosRecord(b)!.fileAttributes, DOS_STORED_ATTRIBUTES, 'decode masks what it reads')
})

t.test('the legacy user.smbts.dos record (v1, 40 bytes) is still read', async (t) => {
  const b = Buffer.alloc(40)
  b[0] = 1; b[1] = 0x03
  b.writeUInt32LE((HIDDEN | 0x8000_0000) >>> 0, 4)
  b.writeBigUInt64LE(5n, 8)
  b.writeBigUInt64LE(6n, 16)
  b.writeBigInt64LE(-1n, 24)
  b.writeUInt32LE(999_999_995, 32)
  t.same(decodeDosRecord(b), { fileAttributes: HIDDEN, creationTime: 5n, changeTime: 6n, writeAnchorNs: -5n, origin: 'legacy' })
  for (let n = 1; n < 40; n++) t.equal(decodeDosRecord(b.subarray(0, n)), undefined, `cut to ${n} bytes`)
  const bad = Buffer.from(b)
  bad.writeUInt32LE(1_000_000_000, 32)
  t.equal(decodeDosRecord(bad), undefined, 'an anchor with ns >= 1e9 is not a time smbts wrote')
})

t.test('truncated, empty, absent or unknown values read as no record', async (t) => {
  const good = encodeDosRecord({ fileAttributes: HIDDEN, creationTime: 5n, writeAnchorNs: 9n })
  t.equal(decodeDosRecord(null), undefined, 'no xattr')
  t.equal(decodeDosRecord(undefined), undefined)
  t.equal(decodeDosRecord(Buffer.alloc(0)), undefined, 'empty value')
  for (let n = 3; n < 32; n++) t.equal(decodeDosRecord(good.subarray(0, n)), undefined, `cut to ${n} bytes`)
  for (let n = 32; n < good.length; n++) t.equal(decodeDosRecord(good.subarray(0, n))?.origin, 'foreign', `cut to ${n}: the v4 struct, no tail`)
  const v6 = Buffer.from(good); v6.writeUInt16LE(6, 2); v6.writeUInt16LE(6, 4)
  t.equal(decodeDosRecord(v6), undefined, 'a later version is not guessed at')
  const level = Buffer.from(good); level.writeUInt16LE(5, 4)
  t.equal(decodeDosRecord(level), undefined, 'a level that is not the version')
  t.equal(decodeDosRecord(Buffer.from('0x27 text with no NUL', 'latin1')), undefined, 'no NUL: not NDR')
  t.equal(decodeDosRecord(Buffer.from('zz\0', 'latin1')), undefined, 'a string that is not hex')
  const wild = Buffer.from(good); wild.writeBigUInt64LE(2n ** 64n - 1n, 24)
  t.equal(decodeDosRecord(wild)!.creationTime, undefined, 'CreationTime above i64 max ignored')
  const badNs = Buffer.from(good); badNs.writeUInt32LE(1_000_000_000, 44)
  t.equal(decodeDosRecord(badNs)!.origin, 'foreign', 'an anchor that is no time: no tail, the v4 struct stands')
})

t.test('decode never throws on random bytes', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), (bytes) => {
    const r = decodeDosRecord(bytes)
    return r === undefined || (r.fileAttributes & ~DOS_STORED_ATTRIBUTES) === 0
  }), { numRuns: 2000 })
  // A view into a larger buffer at an odd offset decodes the view, not the backing store.
  const rec = encodeDosRecord({ fileAttributes: SYSTEM, changeTime: 42n, writeAnchorNs: 1n })
  const backing = Buffer.concat([Buffer.from([0xEE, 0xEE, 0xEE]), rec])
  t.same(decodeDosRecord(new Uint8Array(backing.buffer, backing.byteOffset + 3, rec.length)),
    { fileAttributes: SYSTEM, changeTime: 42n, writeAnchorNs: 1n, origin: 'smbts' })
})
