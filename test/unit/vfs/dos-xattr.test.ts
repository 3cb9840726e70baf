// The user.smbts.dos record codec (src/vfs/dos-xattr.ts): byte layout, round trip, and that
// anything not a whole v1 record reads as "no record" instead of throwing or misreporting.
import t from 'tap'
import fc from 'fast-check'
import {
  DOS_STORED_ATTRIBUTES, DOS_XATTR_NAME, DOS_XATTR_V1_SIZE, DOS_XATTR_VERSION, decodeDosRecord, encodeDosRecord, type DosRecord,
} from '../../../src/vfs/dos-xattr.js'
import {
  FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_HIDDEN, FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_READONLY,
  FILE_ATTRIBUTE_SYSTEM,
} from '../../../src/wire/fscc/constants.js'

t.test('name and byte layout of a v1 record', async (t) => {
  t.equal(DOS_XATTR_NAME, 'user.smbts.dos', 'a user xattr: no privilege needed')
  const rec: DosRecord = {
    fileAttributes: FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM,
    creationTime: 0x01DB_0000_1234_5678n,
    changeTime: 0x01DC_0000_0000_0001n,
    writeAnchorNs: -5n, // a pre-1970 mtime
  }
  const b = encodeDosRecord(rec)
  t.equal(b.length, DOS_XATTR_V1_SIZE)
  t.equal(b.toString('hex'), [
    '01', '03', '0000', // version 1, both times present, reserved
    '06000000', // HIDDEN | SYSTEM
    '78563412' + '0000db01', // CreationTime LE
    '01000000' + '0000dc01', // ChangeTime LE
    'ffffffffffffffff', // -5 ns = second -1 ...
    'fbc99a3b', // ... + 999999995 ns
    '00000000', // reserved
  ].join(''))
})

t.test('round trip keeps every field; absent times stay absent', async (t) => {
  const recs: DosRecord[] = [
    { fileAttributes: 0, writeAnchorNs: 0n },
    { fileAttributes: FILE_ATTRIBUTE_ARCHIVE, creationTime: 133_000_000_000_000_000n, writeAnchorNs: 1_700_000_000_123_456_789n },
    { fileAttributes: FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN, changeTime: 1n, writeAnchorNs: -(2n ** 63n) },
    { fileAttributes: DOS_STORED_ATTRIBUTES, creationTime: 0n, changeTime: 2n ** 63n - 1n, writeAnchorNs: 2n ** 63n - 1n },
    // ext4 keeps mtimes to 2446 AD, past 2^63 ns: the anchor must too.
    { fileAttributes: 0, writeAnchorNs: 15_032_385_535_000_000_000n },
  ]
  for (const r of recs) t.same(decodeDosRecord(encodeDosRecord(r)), r)
  const bare = decodeDosRecord(encodeDosRecord({ fileAttributes: 0, writeAnchorNs: 7n }))!
  t.notOk('creationTime' in bare, 'no CreationTime field when none was stored')
  t.notOk('changeTime' in bare, 'no ChangeTime field when none was stored')
})

t.test('property: decode(encode(r)) = r for every storable record', async (t) => {
  const filetime = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n })
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 0xFFFF_FFFF }), fc.option(filetime, { nil: undefined }), fc.option(filetime, { nil: undefined }),
    fc.bigInt({ min: -(2n ** 63n) * 1_000_000_000n, max: (2n ** 63n - 1n) * 1_000_000_000n }),
    (attrs, creationTime, changeTime, writeAnchorNs) => {
      const r: DosRecord = { fileAttributes: attrs, writeAnchorNs }
      if (creationTime !== undefined) r.creationTime = creationTime
      if (changeTime !== undefined) r.changeTime = changeTime
      const back = decodeDosRecord(encodeDosRecord(r))!
      return back.fileAttributes === (attrs & DOS_STORED_ATTRIBUTES) && back.writeAnchorNs === writeAnchorNs &&
        back.creationTime === creationTime && back.changeTime === changeTime
    }))
  t.pass('100 random records')
})

t.test('only the storable attribute bits survive', async (t) => {
  const b = encodeDosRecord({ fileAttributes: 0xFFFF_FFFF, writeAnchorNs: 0n })
  t.equal(b.readUInt32LE(4), DOS_STORED_ATTRIBUTES, 'encode masks')
  t.equal(DOS_STORED_ATTRIBUTES & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_NORMAL), 0, 'DIRECTORY and NORMAL are never stored')
  b.writeUInt32LE(0xFFFF_FFFF, 4) // written by someone else
  t.equal(decodeDosRecord(b)!.fileAttributes, DOS_STORED_ATTRIBUTES, 'decode masks what it reads')
})

t.test('truncated, empty, absent or foreign values read as no record', async (t) => {
  const good = encodeDosRecord({ fileAttributes: FILE_ATTRIBUTE_HIDDEN, creationTime: 5n, writeAnchorNs: 9n })
  t.equal(decodeDosRecord(null), undefined, 'no xattr')
  t.equal(decodeDosRecord(undefined), undefined)
  t.equal(decodeDosRecord(Buffer.alloc(0)), undefined, 'empty value')
  for (let n = 1; n < DOS_XATTR_V1_SIZE; n++) t.equal(decodeDosRecord(good.subarray(0, n)), undefined, `cut to ${n} bytes`)
  t.same(decodeDosRecord(Buffer.concat([good, Buffer.from('tail')])), decodeDosRecord(good), 'bytes after a v1 record are ignored')
  const v2 = Buffer.from(good)
  v2[0] = DOS_XATTR_VERSION + 1
  t.equal(decodeDosRecord(v2), undefined, 'a later version is not read as v1')
  const v0 = Buffer.from(good)
  v0[0] = 0
  t.equal(decodeDosRecord(v0), undefined, 'version 0 is not ours')
  t.equal(decodeDosRecord(Buffer.from('0x27 DOSATTRIB-like text of another server', 'latin1')), undefined, 'text is not a record')
  // A time flag over a value that is not a FILETIME (above i64 max): that field reads as absent.
  const wild = Buffer.from(good)
  wild.writeBigUInt64LE(2n ** 64n - 1n, 8)
  const r = decodeDosRecord(wild)!
  t.equal(r.creationTime, undefined, 'CreationTime above i64 max ignored')
  t.equal(r.fileAttributes, FILE_ATTRIBUTE_HIDDEN, 'the rest still reads')
  const badNs = Buffer.from(good)
  badNs.writeUInt32LE(1_000_000_000, 32)
  t.equal(decodeDosRecord(badNs), undefined, 'an anchor with ns >= 1e9 is not a time we wrote')
  // Unknown flag bits do not invent fields.
  const flags = encodeDosRecord({ fileAttributes: 0, writeAnchorNs: 0n })
  flags[1] = 0xFC
  t.same(decodeDosRecord(flags), { fileAttributes: 0, writeAnchorNs: 0n })
})

t.test('decode never throws on random bytes', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), (bytes) => {
    const r = decodeDosRecord(bytes)
    return r === undefined || ((r.fileAttributes & ~DOS_STORED_ATTRIBUTES) === 0 && typeof r.writeAnchorNs === 'bigint')
  }), { numRuns: 2000 })
  // A view into a larger buffer at an odd offset decodes the view, not the backing store.
  const rec = encodeDosRecord({ fileAttributes: FILE_ATTRIBUTE_SYSTEM, changeTime: 42n, writeAnchorNs: 1n })
  const backing = Buffer.concat([Buffer.from([0xEE, 0xEE, 0xEE]), rec])
  t.same(decodeDosRecord(new Uint8Array(backing.buffer, backing.byteOffset + 3, rec.length)),
    { fileAttributes: FILE_ATTRIBUTE_SYSTEM, changeTime: 42n, writeAnchorNs: 1n })
})
