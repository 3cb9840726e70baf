// Every decoder under fast-check, structure-aware: valid messages are built from arbitrary field
// values, then mutated (truncated, bytes flipped, length/offset fields lied about, pieces
// duplicated or reordered, huge counts). Each decoder must return a well-formed value or throw
// only its declared error type, within MAX_MS, without allocating in proportion to a claimed
// length. Counterexamples become fixtures in test/fixtures/fuzz/decoders/, replayed every run.
import t from 'tap'
import { readFileSync } from 'node:fs'
import {
  executions, fc, fuzz, mutated, prefixes, underContract, replayFixtures, reportExecutions, ContractViolation, type Contract,
} from '../helpers/fuzz.js'
import { FrameReader, frameHeader } from '../../src/transport/framing.js'
import { decodeHeader, encodeHeader, isSmb2 } from '../../src/wire/header.js'
import { NtStatusError, ProtocolError } from '../../src/wire/errors.js'
import { DecryptError, decodeTransformHeader, openTransform, sealTransform, cipherKeyBits } from '../../src/crypto/encryption.js'
import { decodeContextData, decodeNegotiateRequest, peekNegotiateClientGuid } from '../../src/smb2/commands/negotiate.wire.js'
import { decodeCreateRequest, decodeDurableContexts } from '../../src/smb2/commands/create.wire.js'
import { decodeSambaNtAcl, encodeSambaNtAclV1, encodeSambaNtAclV4, parseLinuxPosixAcl, sambaNtAclSysHash, sysAclBlob } from '../../src/vfs/samba-ntacl.js'
import { decodeNtAclRecord, encodeNtAclRecord } from '../../src/vfs/ntacl-xattr.js'
import { decodeDosRecord, encodeDosRecord, DOS_STORED_ATTRIBUTES } from '../../src/vfs/dos-xattr.js'
import { decodeFileGetEaInformation, encodeFileGetEaInformation } from '../../src/wire/fscc/get-ea.js'
import { decodeLockElements } from '../../src/smb2/commands/lock.js'
import { NETWORK_INTERFACE_INFO_SIZE, decodeNetworkInterfaceInfo, encodeNetworkInterfaceInfo } from '../../src/smb2/commands/interface-info.wire.js'
import { decodeInotifyEvents, encodeInotifyEvent } from '../../src/vfs/inotify-events.js'
import { decodeFanRecords } from '../../src/vfs/local-changes.js'
import { handleSmb1Negotiate } from '../../src/smb2/commands/negotiate.js'
import { decodeOid, encodeInit, encodeResp, encodeOid, parseInit, parseResp, OID_NTLMSSP, OID_KRB5, OID_MS_KRB5, OID_SPNEGO } from '../../src/auth/spnego.js'
import { AuthFormatError } from '../../src/auth/errors.js'
import { NtlmServer, parseAvPairs, encodeAvPairs } from '../../src/auth/ntlmssp.js'
import { SpnegoServer } from '../../src/auth/spnego-server.js'
import { isKrb5ApReq } from '../../src/auth/krb5.js'
import { ntHash } from '../../src/crypto/md4.js'
import {
  encodeSecurityDescriptor, parseAcl, parseSecurityDescriptor, encodeAcl, type Ace, type Acl, type SecurityDescriptor,
} from '../../src/wire/dtyp/security-descriptor.js'
import { encodeSid, parseSid, type Sid } from '../../src/wire/dtyp/sid.js'
import { decodeSetFileInfo, encodeFileFullEaInformation, decodeFileFullEaInformation } from '../../src/wire/fscc/set-info.js'
import { FileInformationClass } from '../../src/wire/fscc/constants.js'
import { smbPathWithStream } from '../../src/smb2/path.js'
import { decodeStreamValue, splitStreamName, streamNameOfXattr, streamXattrName } from '../../src/vfs/streams.js'
import {
  decodeBind, decodeBindAck, decodeCommonHeader, decodeRequest, encodeBind, encodeBindAck, encodeRequest, RpcPduError,
  NDR20, PType,
} from '../../src/rpc/pdu.js'
import { NdrError, NdrReader } from '../../src/rpc/ndr.js'
import { parseConfigText } from '../../src/config/config.js'
import { parseRecord, RecordError } from '../../src/session/persistent-store.js'
import { ConfigError } from '../../src/config/errors.js'
import { MemClient, memServer, negotiateBody, smb1Negotiate, createBody, lockBody } from '../helpers/mem-client.js'
import { authenticateMessage, negotiateMessage } from '../helpers/ntlm-client.js'

const AREA = 'decoders'
const srv = memServer()
t.teardown(srv.cleanup)

const bytes = (min: number, max: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength: min, maxLength: max }).map(a => Buffer.from(a))
const u16s = (s: string): Buffer => Buffer.from(s, 'utf16le')

/** A decoder under test: its valid-message generator, its contract and the check of one input. */
interface Target {
  name: string
  valid: fc.Arbitrary<Buffer>
  check: (input: Buffer) => void
  weight?: number
}
const targets: Target[] = []
const target = (x: Target): void => { targets.push(x) }
const run = <T>(c: Contract, input: Buffer, fn: () => T): T | undefined => underContract(c, input, fn)
const must = (cond: boolean, why: string): void => { if (!cond) throw new ContractViolation(why) }

// ------------------------------------------------------------------ transport: Direct-TCP framing

{
  const MAX = 1 << 16
  const c: Contract = { errors: [ProtocolError], maxAlloc: () => MAX }
  /** Frames out of one stream fed whole, byte by byte and in 7-byte chunks: all three agree. */
  const feed = (stream: Buffer, step: number): { frames: string[], error?: string } => {
    const r = new FrameReader(() => MAX)
    const frames: string[] = []
    try {
      for (let i = 0; i < stream.length; i += step) r.push(stream.subarray(i, Math.min(stream.length, i + step)), f => frames.push(f.toString('hex')))
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e
      return { frames, error: e.message }
    }
    return { frames }
  }
  target({
    name: 'framing.FrameReader',
    valid: fc.array(bytes(1, 200), { minLength: 1, maxLength: 5 })
      .map(fs => Buffer.concat(fs.flatMap(f => [frameHeader(f.length), f]))),
    check (input) {
      const whole = run(c, input, () => feed(input, Math.max(1, input.length)))!
      const bytewise = run(c, input, () => feed(input, 1))!
      const chunked = run(c, input, () => feed(input, 7))!
      must(JSON.stringify(whole) === JSON.stringify(bytewise) && JSON.stringify(whole) === JSON.stringify(chunked),
        'framing differs with the chunking')
      must(whole.frames.reduce((s, f) => s + f.length / 2, 0) <= input.length, 'frames larger than the stream')
    },
  })
}

// ------------------------------------------------------------------ SMB1 NEGOTIATE upgrade

{
  const c: Contract = { errors: [] }
  const dialect = fc.oneof(fc.constantFrom('SMB 2.002', 'SMB 2.???', 'NT LM 0.12', 'LANMAN1.0', 'PC NETWORK PROGRAM 1.0', ''),
    fc.string({ maxLength: 12 }).filter(s => !s.includes('\0')))
  target({
    name: 'negotiate.handleSmb1Negotiate',
    valid: fc.array(dialect, { maxLength: 8 }).map(ds => smb1Negotiate(ds)),
    check (input) {
      const conn = new MemClient(srv.state).conn
      const out = run(c, input, () => handleSmb1Negotiate(conn, input))
      if (out !== undefined) {
        const whole = Buffer.concat(out)
        must(isSmb2(whole) && decodeHeader(whole).command === 0, 'SMB1 upgrade answered with something else than an SMB2 NEGOTIATE')
      }
    },
  })
}

// ------------------------------------------------------------------ SMB2 header

const headerArb = fc.record({
  creditCharge: fc.integer({ min: 0, max: 0xffff }), status: fc.nat(), command: fc.integer({ min: 0, max: 0x14 }),
  creditRequest: fc.integer({ min: 0, max: 0xffff }), flags: fc.constantFrom(0, 1, 2, 4, 8, 0x10000000, 0x20000000),
  nextCommand: fc.constantFrom(0, 64, 72, 0xffffffff), messageId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  asyncId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), treeId: fc.nat(), sessionId: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
})
const headerBytes = (h: Parameters<typeof encodeHeader>[0], body: Buffer = Buffer.alloc(0)): Buffer => {
  const b = Buffer.alloc(64 + body.length); encodeHeader(h, b); body.copy(b, 64); return b
}
target({
  name: 'header.decodeHeader',
  valid: fc.tuple(headerArb, bytes(0, 40)).map(([h, body]) => headerBytes(h, body)),
  check (input) {
    for (const off of [0, 1, 8]) {
      // decodeHeader's precondition is isSmb2: under it, it must never throw, and re-encode stably.
      if (!isSmb2(input, off)) continue
      const h = run({ errors: [] }, input, () => decodeHeader(input, off))!
      const again = decodeHeader(headerBytes(h), 0)
      must(JSON.stringify(again, (_k, v) => typeof v === 'bigint' ? v.toString() : v) === JSON.stringify(h, (_k, v) => typeof v === 'bigint' ? v.toString() : v), 'header does not survive a round trip')
    }
  },
})

// ------------------------------------------------------------------ TRANSFORM_HEADER and decryption

{
  const c: Contract = { errors: [DecryptError] }
  const keyFor = (cipher: number): Buffer => Buffer.alloc(cipherKeyBits(cipher) / 8, 0x40 + cipher)
  // input[0] = cipher id (1..4), the rest: the transform message.
  target({
    name: 'encryption.openTransform',
    valid: fc.tuple(fc.integer({ min: 1, max: 4 }), bytes(0, 300), bytes(16, 16), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }))
      .map(([cipher, plain, nonce, sid]) => Buffer.concat([Buffer.from([cipher]), ...sealTransform(cipher, keyFor(cipher), nonce, sid, [plain])])),
    check (input) {
      if (input.length === 0) return
      const cipher = 1 + ((input[0] - 1) & 3)
      const msg = input.subarray(1)
      run(c, msg, () => decodeTransformHeader(msg))
      run(c, msg, () => openTransform(cipher, keyFor(cipher), msg))
    },
  })
}

// ------------------------------------------------------------------ NEGOTIATE request and contexts

/** A count field: the truth most of the time, else a lie (0, one more, huge). */
const countField = (n: number): fc.Arbitrary<number> => fc.oneof(
  { arbitrary: fc.constant(n), weight: 4 },
  { arbitrary: fc.constantFrom(0, n + 1, n + 2, 0x7fff, 0xffff), weight: 1 }
)
const ids = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 6 })
/** `fixed` bytes of fixed fields (the count first), then the ids (MS-SMB2 2.2.3.1.2/.3/.6/.7). */
const idListData = (fixed: number): fc.Arbitrary<Buffer> => ids.chain(xs => fc.tuple(fc.constant(xs), countField(xs.length), bytes(fixed - 2, fixed - 2)))
  .map(([xs, count, rest]) => {
    const d = Buffer.alloc(fixed + xs.length * 2); d.writeUInt16LE(count, 0); rest.copy(d, 2)
    xs.forEach((x, i) => d.writeUInt16LE(x, fixed + i * 2)); return d
  })
// Every context type smbts reads, with its inner counts and lengths sometimes lying about the
// bytes present (issue 20): HashAlgorithmCount and SaltLength, CipherCount,
// CompressionAlgorithmCount, TransformCount, SigningAlgorithmCount, an odd NetName, a short
// transport context; and unknown types.
const negCtx = fc.oneof(
  fc.record({
    type: fc.constant(1),
    data: fc.tuple(fc.integer({ min: 0, max: 3 }), bytes(0, 40)).chain(([n, salt]) => fc.tuple(fc.constant(n), fc.constant(salt), countField(n),
      fc.oneof({ arbitrary: fc.constant(salt.length), weight: 4 }, { arbitrary: fc.constantFrom(salt.length + 1, salt.length + 2, 0x7fff, 0xffff), weight: 1 })))
      .map(([n, salt, count, saltLength]) => {
        const d = Buffer.alloc(4 + n * 2 + salt.length); d.writeUInt16LE(count, 0); d.writeUInt16LE(saltLength & 0xffff, 2)
        for (let i = 0; i < n; i++) d.writeUInt16LE(1, 4 + i * 2)
        salt.copy(d, 4 + n * 2); return d
      }),
  }),
  fc.record({ type: fc.constantFrom(2, 8), data: idListData(2) }),
  fc.record({ type: fc.constantFrom(3, 7), data: idListData(8) }),
  fc.record({ type: fc.constant(5), data: fc.oneof(fc.string({ maxLength: 20 }).map(u16s), bytes(0, 9)) }),
  fc.record({ type: fc.constant(6), data: bytes(0, 6) }),
  fc.record({ type: fc.integer({ min: 0, max: 0xffff }), data: bytes(0, 24) })
)
const negotiateArb = fc.record({
  dialects: fc.array(fc.constantFrom(0x0202, 0x0210, 0x0300, 0x0302, 0x0311, 0x02ff, 0x0000, 0xffff), { minLength: 1, maxLength: 8 }),
  securityMode: fc.integer({ min: 0, max: 3 }), capabilities: fc.nat(),
  contexts: fc.array(negCtx, { maxLength: 6 }).chain(cs => fc.shuffledSubarray([...cs, ...cs], { minLength: 0 })), // duplicates, reordered
}).map(o => headerBytes({ creditCharge: 0, status: 0, command: 0, creditRequest: 1, flags: 0, nextCommand: 0, messageId: 0n, asyncId: 0n, treeId: 0, sessionId: 0n }, negotiateBody(o)))
target({
  name: 'negotiate.decodeNegotiateRequest',
  valid: negotiateArb,
  check (input) {
    // The dispatcher guarantees a header and StructureSize; the decoder checks everything else.
    if (input.length < 64) return
    const r = run({ errors: [NtStatusError] }, input, () => decodeNegotiateRequest(input))
    if (r !== undefined) {
      must(r.dialects.length > 0 && r.clientGuid.length === 16, 'negotiate request without dialects or GUID')
      for (const x of r.contexts) must(x.data.length <= input.length, 'context data larger than the message')
    }
  },
})

target({
  name: 'negotiate.peekNegotiateClientGuid',
  valid: negotiateArb,
  check (input) {
    // The transport asks it of any frame, before the dispatcher has looked at it: it never throws.
    const g = run({ errors: [] }, input, () => peekNegotiateClientGuid(input))
    if (g !== undefined) must(g.length === 16 && g.some(x => x !== 0), 'a ClientGuid that is not 16 bytes, or all zero')
  },
})

target({
  name: 'negotiate.decodeContextData',
  // The context type in the first two bytes, its Data after them.
  valid: negCtx.map(c => { const h = Buffer.alloc(2); h.writeUInt16LE(c.type, 0); return Buffer.concat([h, c.data]) }),
  check (input) {
    if (input.length < 2) return
    const type = input.readUInt16LE(0)
    const data = input.subarray(2)
    const v = run({ errors: [NtStatusError] }, input, () => decodeContextData(type, data))
    if (v === undefined) return
    // The POSIX extensions' list of 16-byte identifiers is checked in test/fuzz/posix.test.ts.
    if ('ids' in v && v.type !== 0x100) {
      must(v.ids.length > 0, 'a context list of no ids accepted')
      must(v.ids.length * 2 + (type === 1 || type === 2 || type === 8 ? 2 : 6) <= data.length, 'more ids than the Data holds')
    }
    if (v.type === 1) must(4 + v.ids.length * 2 + v.salt.length <= data.length && v.salt.length === data.readUInt16LE(2), 'a salt past the Data')
  },
})

// ------------------------------------------------------------------ CREATE request and create contexts

// The last: SMB2_CREATE_APP_INSTANCE_ID's 16-byte name.
const CTX_NAMES = ['MxAc', 'QFid', 'DHnQ', 'DH2Q', 'DHnC', 'DH2C', 'RqLs', 'ExtA', 'SecD', 'TWrp', 'AlSi', 'AAPL', 'x', 'ABCDEFGH', Buffer.from('45bca66aefa7f74a9008fa462e144d74', 'hex').toString('latin1')]
const createCtxArb = fc.record({ name: fc.oneof(fc.constantFrom(...CTX_NAMES), fc.string({ minLength: 1, maxLength: 8 })), data: bytes(0, 48) })
/** MS-SMB2 2.2.13.2: a create context chain, each entry 8-aligned. */
export function encodeCreateContexts (cs: Array<{ name: string, data: Buffer }>): Buffer {
  const parts: Buffer[] = []
  cs.forEach((c, i) => {
    const name = Buffer.from(c.name, 'latin1')
    const dOff = c.data.length > 0 ? (16 + name.length + 7) & ~7 : 0
    const len = c.data.length > 0 ? dOff + c.data.length : 16 + name.length
    const padded = i < cs.length - 1 ? (len + 7) & ~7 : len
    const b = Buffer.alloc(padded)
    b.writeUInt32LE(i < cs.length - 1 ? padded : 0, 0)
    b.writeUInt16LE(16, 4); b.writeUInt16LE(name.length, 6)
    b.writeUInt16LE(dOff, 10); b.writeUInt32LE(c.data.length, 12)
    name.copy(b, 16); c.data.copy(b, dOff)
    parts.push(b)
  })
  return Buffer.concat(parts)
}
const createArb = fc.record({
  name: fc.oneof(fc.constantFrom('', 'a.txt', 'dir\\f', '..\\x', 'a:stream'), fc.string({ maxLength: 30 })),
  contexts: fc.array(createCtxArb, { maxLength: 4 }).chain(cs => fc.shuffledSubarray([...cs, ...cs])),
  access: fc.nat(), options: fc.nat(), disposition: fc.integer({ min: 0, max: 7 }),
}).map(o => {
  const body = createBody(o.name, { access: o.access, options: o.options, disposition: o.disposition })
  let msg = headerBytes({ creditCharge: 1, status: 0, command: 5, creditRequest: 1, flags: 0, nextCommand: 0, messageId: 1n, asyncId: 0n, treeId: 1, sessionId: 1n }, body)
  if (o.contexts.length > 0) {
    const ctxOff = (msg.length + 7) & ~7
    const ctx = encodeCreateContexts(o.contexts)
    msg = Buffer.concat([msg, Buffer.alloc(ctxOff - msg.length), ctx])
    msg.writeUInt32LE(ctxOff, 64 + 48); msg.writeUInt32LE(ctx.length, 64 + 52)
  }
  return msg
})
target({
  name: 'create.decodeCreateRequest',
  valid: createArb,
  check (input) {
    if (input.length < 64 + 56) return // the dispatcher's StructureSize check
    const r = run({ errors: [NtStatusError] }, input, () => decodeCreateRequest(input))
    if (r !== undefined) for (const x of r.contexts) must(x.data.length <= input.length && x.name.length > 0, 'create context outside the message')
    // The durable-handle contexts (DHnQ/DHnC/DH2Q/DH2C) decoded from whatever contexts came.
    if (r !== undefined) run({ errors: [NtStatusError] }, input, () => decodeDurableContexts(r.contexts))
  },
})

// ------------------------------------------------------------------ LOCK elements

const lockArb = fc.record({
  elements: fc.array(fc.record({ off: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), len: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), flags: fc.oneof(fc.constantFrom(1, 2, 4, 0x11, 0x12, 0), fc.nat()) }), { maxLength: 6 }),
  count: fc.option(fc.nat({ max: 0xffff }), { nil: undefined }),
}).map(o => {
  const body = lockBody({ persistent: 1n, volatile: 2n }, o.elements)
  // A LockCount that lies about the elements present.
  if (o.count !== undefined) body.writeUInt16LE(o.count, 2)
  return body
})
target({
  name: 'lock.decodeLockElements',
  valid: lockArb,
  check (input) {
    if (input.length < 48) return // the dispatcher's StructureSize check
    const r = run({ errors: [NtStatusError] }, input, () => decodeLockElements(input))
    if (r !== undefined) must(r.length > 0 && 24 + r.length * 24 <= input.length, 'lock elements outside the request')
  },
})

// ------------------------------------------------------------------ NETWORK_INTERFACE_INFO (multichannel)

const ifaceArb = fc.array(fc.record({
  ifIndex: fc.nat(), capability: fc.nat({ max: 3 }), linkSpeed: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), v6: fc.boolean(), scopeId: fc.nat(),
  address: bytes(16, 16),
}), { minLength: 1, maxLength: 4 }).map(es => encodeNetworkInterfaceInfo(es.map(e => e.v6
  ? { ifIndex: e.ifIndex, capability: e.capability, linkSpeed: e.linkSpeed, family: 'IPv6' as const, address: e.address, scopeId: e.scopeId }
  : { ifIndex: e.ifIndex, capability: e.capability, linkSpeed: e.linkSpeed, family: 'IPv4' as const, address: e.address.subarray(0, 4) })))
target({
  name: 'interface-info.decodeNetworkInterfaceInfo',
  valid: ifaceArb,
  check (input) {
    const r = run({ errors: [RangeError] }, input, () => decodeNetworkInterfaceInfo(input))
    if (r === undefined) return
    must(r.length * NETWORK_INTERFACE_INFO_SIZE <= input.length, 'more entries than the input holds')
    // What decodes encodes back to the same entries (the encoder is what the server sends).
    must(JSON.stringify(decodeNetworkInterfaceInfo(encodeNetworkInterfaceInfo(r)), (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v) ===
      JSON.stringify(r, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v), 'decode/encode round trip differs')
  },
})

// ------------------------------------------------------------------ inotify records (CHANGE_NOTIFY)

const inotifyArb = fc.array(fc.record({ wd: fc.integer(), mask: fc.nat(), cookie: fc.nat(), name: fc.oneof(fc.constant(''), fc.string({ minLength: 1, maxLength: 20 }).filter(n => !n.includes('\0'))) }), { maxLength: 6 })
  .chain(evs => fc.nat({ max: 7 }).map(pad => Buffer.concat(evs.map(e => encodeInotifyEvent(e, pad)))))
target({
  name: 'inotify.decodeInotifyEvents',
  valid: inotifyArb,
  check (input) {
    const r = run({ errors: [] }, input, () => decodeInotifyEvents(input))
    if (r === undefined) return
    // Every record decoded was whole: its header and name inside the input.
    must(r.length * 16 <= input.length, 'more records than the input can hold')
  },
})

// ------------------------------------------------------------------ fanotify records (local changes)

const fanArb = fc.array(fc.record({ dev: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), ino: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), mask: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), pid: fc.nat() }), { maxLength: 6 })
  .chain(rs => bytes(0, 31).map(tail => Buffer.concat([...rs.map(r => {
    const b = Buffer.alloc(32)
    b.writeBigUInt64LE(r.dev, 0); b.writeBigUInt64LE(r.ino, 8); b.writeBigUInt64LE(r.mask, 16); b.writeUInt32LE(r.pid % 2 ** 32, 24)
    return b
  }), tail])))
target({
  name: 'local-changes.decodeFanRecords',
  valid: fanArb,
  check (input) {
    const r = run({ errors: [] }, input, () => decodeFanRecords(input))
    if (r === undefined) return
    must(r.length === Math.floor(input.length / 32), 'one record per whole 32 bytes, a torn tail dropped')
    must(r.every(x => x.mask >= 0 && x.mask <= 0xffffffff), 'a mask outside 32 bits')
  },
})

// ------------------------------------------------------------------ SPNEGO (DER)

const OIDS = [OID_NTLMSSP, OID_KRB5, OID_MS_KRB5, OID_SPNEGO, '1.2.3', '2.999.1234567890123']
const oidArb = fc.oneof(fc.constantFrom(...OIDS), fc.array(fc.nat({ max: 2 ** 40 }), { minLength: 1, maxLength: 6 }).map(a => `${a[0] % 3}.${(a[1] ?? 0) % 40}${a.slice(2).map(x => '.' + x).join('')}`))
const spnegoArb = fc.oneof(
  fc.record({ mechTypes: fc.array(oidArb, { minLength: 1, maxLength: 4 }), mechToken: fc.option(bytes(0, 80), { nil: undefined }), mechListMIC: fc.option(bytes(0, 20), { nil: undefined }) })
    .map(i => encodeInit(i)),
  fc.record({ negState: fc.option(fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const), { nil: undefined }), supportedMech: fc.option(oidArb, { nil: undefined }), responseToken: fc.option(bytes(0, 80), { nil: undefined }), mechListMIC: fc.option(bytes(0, 20), { nil: undefined }) })
    .map(r => encodeResp(r))
)
target({
  name: 'spnego.parseInit/parseResp/decodeOid',
  valid: spnegoArb,
  check (input) {
    const c: Contract = { errors: [AuthFormatError] }
    run(c, input, () => parseInit(input))
    run(c, input, () => parseResp(input))
    const oid = run(c, input, () => decodeOid(input))
    if (oid !== undefined && input.length < 0x80) must(encodeOid(oid).subarray(2).equals(input), `OID ${oid} does not re-encode to its bytes`)
  },
})

// ------------------------------------------------------------------ NTLMSSP

const NOW = new Date('2024-01-02T03:04:05Z')
const ntlmOpts = {
  netbiosName: 'SMBTS', dnsName: 'smbts.local', netbiosDomain: 'WORKGROUP', dnsDomain: 'local',
  lookup: (u: string) => u === 'tester' ? ntHash('Secret-pass1') : undefined,
  now: () => NOW, randomBytes: (n: number) => Buffer.alloc(n, 0x11),
}
const NEG = negotiateMessage()
const CHALLENGE = new NtlmServer(ntlmOpts).challenge(NEG)
target({
  name: 'ntlmssp.challenge',
  valid: fc.integer({ min: 0, max: 0xffffffff }).map(flags => negotiateMessage(flags >>> 0)),
  check (input) {
    const out = run({ errors: [AuthFormatError] }, input, () => new NtlmServer(ntlmOpts).challenge(input))
    if (out !== undefined) must(out.subarray(0, 8).toString('latin1') === 'NTLMSSP\0', 'CHALLENGE without signature')
  },
})
target({
  name: 'ntlmssp.authenticate',
  valid: fc.record({ user: fc.constantFrom('tester', 'nobody', ''), password: fc.constantFrom('Secret-pass1', 'x'), domain: fc.string({ maxLength: 10 }), withMic: fc.boolean(), workstation: fc.string({ maxLength: 10 }) })
    .map(o => authenticateMessage({ ...o, randomSessionKey: Buffer.alloc(16, 0x5a) }, NEG, CHALLENGE).message),
  check (input) {
    const s = new NtlmServer(ntlmOpts)
    s.challenge(NEG)
    // authenticate() reports malformed input as a result, never by throwing.
    const r = run({ errors: [] }, input, () => s.authenticate(input))!
    must(typeof r.ok === 'boolean', 'authenticate returned no result')
  },
})
target({
  name: 'ntlmssp.parseAvPairs',
  valid: fc.array(fc.record({ id: fc.integer({ min: 1, max: 12 }), value: bytes(0, 30) }), { maxLength: 6 }).map(p => encodeAvPairs(p)),
  check (input) { run({ errors: [AuthFormatError] }, input, () => parseAvPairs(input)) },
})
target({
  name: 'spnego-server.step',
  valid: fc.tuple(fc.boolean(), spnegoArb).map(([ntlm, x]) => ntlm ? encodeInit({ mechTypes: [OID_NTLMSSP], mechToken: NEG }) : x),
  check (input) {
    const s = new SpnegoServer(ntlmOpts)
    const a = run({ errors: [] }, input, () => s.step(input))!
    must(['more', 'done', 'failed'].includes(a.state), 'step without a state')
    // The second leg gets the same bytes mutated by their position: still only results.
    const b = run({ errors: [] }, input, () => s.step(Buffer.from(input).reverse()))!
    must(['more', 'done', 'failed'].includes(b.state), 'step without a state')
  },
})
target({
  name: 'krb5.isKrb5ApReq',
  // [APPLICATION 0] { krb5 OID (either), TOK_ID, body } (RFC 4121 4.1), as smbclient sends it.
  valid: fc.tuple(fc.constantFrom(OID_KRB5, OID_MS_KRB5), fc.constantFrom(0x0100, 0x0200, 0x0300), bytes(0, 300)).map(([oid, tokId, body]) => {
    const id = Buffer.alloc(2)
    id.writeUInt16BE(tokId)
    const inner = Buffer.concat([encodeOid(oid), id, body])
    const len = inner.length < 0x80 ? Buffer.from([inner.length]) : Buffer.from([0x82, inner.length >> 8, inner.length & 0xff])
    return Buffer.concat([Buffer.from([0x60]), len, inner])
  }),
  check (input) {
    // A yes or a no for any bytes: never a throw (the krb5 token goes to GSSAPI only after a yes).
    must(typeof run({ errors: [] }, input, () => isKrb5ApReq(input)) === 'boolean', 'isKrb5ApReq returned no boolean')
  },
})

// ------------------------------------------------------------------ MS-DTYP SID, ACL, security descriptor

const sidArb: fc.Arbitrary<Sid> = fc.record({ revision: fc.constant(1), identifierAuthority: fc.bigInt({ min: 0n, max: 2n ** 48n - 1n }), subAuthorities: fc.array(fc.nat(), { maxLength: 15 }) })
const aceArb: fc.Arbitrary<Ace> = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 3 }), flags: fc.integer({ min: 0, max: 255 }), mask: fc.nat(), sid: sidArb }),
  fc.record({ type: fc.constantFrom(0x09, 0x0a, 0x0d, 0x11, 0x12, 0x13), flags: fc.integer({ min: 0, max: 255 }), mask: fc.nat(), sid: sidArb, extra: bytes(0, 12).map(b => b.subarray(0, b.length & ~3)) }),
  fc.record({ type: fc.constantFrom(0x05, 0x06, 0x07, 0x0b), flags: fc.integer({ min: 0, max: 255 }), mask: fc.nat(), body: bytes(8, 40).map(b => b.subarray(0, b.length & ~3)) })
)
// Object ACEs need ACL_REVISION_DS (4).
const aclArb: fc.Arbitrary<Acl> = fc.record({ revision: fc.constantFrom(2, 4), aces: fc.array(aceArb, { maxLength: 5 }) })
  .map(a => a.aces.some(x => x.body !== undefined) ? { ...a, revision: 4 } : a)
const sdArb: fc.Arbitrary<SecurityDescriptor> = fc.record({
  control: fc.integer({ min: 0, max: 0xffff }).map(c => c & ~0x8014),
  owner: fc.option(sidArb, { nil: undefined }), group: fc.option(sidArb, { nil: undefined }),
  dacl: fc.option(fc.option(aclArb, { nil: null }), { nil: undefined }), sacl: fc.option(fc.option(aclArb, { nil: null }), { nil: undefined }),
})
target({
  name: 'dtyp.parseSecurityDescriptor/parseAcl/parseSid',
  valid: fc.oneof(sdArb.map(encodeSecurityDescriptor), aclArb.map(encodeAcl), sidArb.map(encodeSid)),
  check (input) {
    const c: Contract = { errors: [NtStatusError] }
    const sd = run(c, input, () => parseSecurityDescriptor(input))
    if (sd !== undefined) {
      const again = run({ errors: [] }, input, () => parseSecurityDescriptor(encodeSecurityDescriptor(sd)))
      must(again !== undefined, 'a parsed security descriptor does not re-encode to a valid one')
    }
    run(c, input, () => parseAcl(input))
    run(c, input, () => parseSid(input))
    if (input.length > 3) run(c, input, () => parseSid(input, 3))
  },
})

// ------------------------------------------------------------------ Samba's security.NTACL xattr

{
  const fixtures = ['file-v4-default.bin', 'file-v4-dacl.bin', 'dir-v4-inherit.bin'].map(f => readFileSync(new URL(`../fixtures/samba-ntacl/${f}`, import.meta.url)))
  target({
    name: 'samba-ntacl.decodeSambaNtAcl',
    valid: fc.oneof(sdArb.map(encodeSambaNtAclV1), fc.constantFrom(...fixtures)),
    check (input) {
      // Never throws: anything malformed is "nothing stored"; what decodes re-encodes to itself.
      const d = run({ errors: [] }, input, () => decodeSambaNtAcl(input))
      if (d !== undefined) {
        const again = run({ errors: [] }, input, () => decodeSambaNtAcl(encodeSambaNtAclV1(d.sd)))
        must(again !== undefined && JSON.stringify(again.sd, (_k, v) => typeof v === 'bigint' ? String(v) : v) === JSON.stringify(d.sd, (_k, v) => typeof v === 'bigint' ? String(v) : v), 'a decoded security.NTACL does not round-trip through version 1')
      }
    },
  })
}

target({
  name: 'samba-ntacl.encodeSambaNtAclV4',
  valid: sdArb.map(sd => encodeSambaNtAclV4(sd, Buffer.alloc(32, 7), Buffer.alloc(32, 9), 1n)),
  check (input) {
    // What smbts writes reads back as version 4 with its POSIX ACL hash where Samba looks for it.
    const d = run({ errors: [] }, input, () => decodeSambaNtAcl(input))
    const h = run({ errors: [] }, input, () => sambaNtAclSysHash(input))
    if (d !== undefined && d.version === 4) must(h !== undefined, 'a version-4 value without its POSIX ACL hash')
  },
})

target({
  name: 'samba-ntacl.parseLinuxPosixAcl',
  valid: fc.array(fc.tuple(fc.constantFrom(0x01, 0x02, 0x04, 0x08, 0x10, 0x20), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 0xffff_ffff })), { maxLength: 12 })
    .map(es => { const b = Buffer.alloc(4 + 8 * es.length); b.writeUInt32LE(2, 0); es.forEach(([tag, perm, id], i) => { b.writeUInt16LE(tag, 4 + 8 * i); b.writeUInt16LE(perm, 6 + 8 * i); b.writeUInt32LE(id, 8 + 8 * i) }); return b }),
  check (input) {
    // Never throws; what parses hashes (the blob Samba would hash) without throwing either.
    const acl = run({ errors: [] }, input, () => parseLinuxPosixAcl(input))
    if (acl !== undefined) run({ errors: [] }, input, () => sysAclBlob({ access: acl, default: acl, uid: 0, gid: 0, mode: 0o40755 }))
  },
})

target({
  name: 'ntacl-xattr.decodeNtAclRecord',
  valid: sdArb.map(sd => encodeNtAclRecord(encodeSecurityDescriptor(sd))),
  check (input) {
    // Never throws: a record that is not ours, or holds no valid descriptor, is "nothing stored".
    run({ errors: [] }, input, () => decodeNtAclRecord(input))
  },
})

// ------------------------------------------------------------------ persistent handle records (src/session/persistent-store.ts)

{
  const dec = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String)
  const guid = bytes(16, 16).map(b => b.toString('hex'))
  const u32 = fc.integer({ min: 0, max: 0xffffffff })
  const record = fc.record({
    v: fc.constant(1), w: fc.integer({ min: 0, max: 63 }), share: fc.string(), path: fc.stringMatching(/^[a-z]{1,8}(\/[a-z]{1,8}){0,2}$/),
    user: fc.string(), domain: fc.string(), clientGuid: guid, createGuid: guid, fid: dec, ino: dec,
    access: u32, shareAccess: fc.integer({ min: 0, max: 7 }), createOptions: u32, deleteOnClose: fc.boolean(), oplock: fc.constantFrom(0, 1, 8, 9, 0xff),
    locks: fc.array(fc.record({ off: dec, len: dec, x: fc.boolean() }), { maxLength: 4 }),
    lockSeq: fc.array(fc.tuple(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 15 })), { maxLength: 4 }),
    timeoutMs: u32, position: dec, createAction: fc.integer({ min: 0, max: 3 }),
    stream: fc.option(fc.stringMatching(/^[A-Za-z0-9 ._-]{1,12}$/), { nil: undefined }),
    fh: fc.option(bytes(8, 40).map(b => b.toString('hex')), { nil: undefined }),
    channelSequence: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
    channelGeneration: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    replayEligible: fc.option(fc.boolean(), { nil: undefined }),
  })
  target({
    name: 'persistent-store.parseRecord',
    valid: record.map(r => Buffer.from(JSON.stringify(r))),
    check (input) {
      // A record file is read back at start: anything but a record is RecordError (the file is dropped).
      const r = run({ errors: [RecordError] }, input, () => parseRecord(input.toString('utf8')))
      if (r !== undefined) {
        must(!r.path.split('/').includes('..') && !r.path.startsWith('/'), 'a record path escapes its share')
        must(/^\d+$/.test(r.fid) && r.locks.every(l => /^\d+$/.test(l.off)), 'a record number is not decimal')
        must(r.stream === undefined || (r.stream !== '' && !/[/\\:\0]/.test(r.stream)), 'a record stream name holds a separator')
      }
    },
  })
}

// ------------------------------------------------------------------ MS-FSCC FILE_GET_EA_INFORMATION (QUERY_INFO EA lists)

target({
  name: 'fscc.decodeFileGetEaInformation',
  valid: fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/), { minLength: 1, maxLength: 5 }).map(encodeFileGetEaInformation),
  check (input) {
    // Malformed lists are NtStatusErrors (EA_LIST_INCONSISTENT, INVALID_EA_NAME); what decodes re-encodes to the same names.
    const names = run({ errors: [NtStatusError] }, input, () => decodeFileGetEaInformation(input))
    if (names !== undefined) {
      const again = decodeFileGetEaInformation(encodeFileGetEaInformation(names))
      must(JSON.stringify(again) === JSON.stringify(names), 'a decoded EA name list does not round-trip')
    }
  },
})

// ------------------------------------------------------------------ Samba's user.DOSATTRIB xattr

{
  const fixtures = ['plain.bin', 'attrs.bin', 'ro.bin', 'dir1.bin', 'ct.bin'].map(f => readFileSync(new URL(`../fixtures/samba-dosattrib/${f}`, import.meta.url)))
  const ft = fc.option(fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }), { nil: undefined })
  target({
    name: 'dos-xattr.decodeDosRecord',
    valid: fc.oneof(
      fc.record({ fileAttributes: fc.nat(), creationTime: ft, changeTime: ft, writeAnchorNs: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }) })
        .map(r => encodeDosRecord(r)),
      fc.constantFrom(...fixtures)),
    check (input) {
      // Never throws: anything unreadable is "no record"; what decodes re-encodes to the same facts.
      const r = run({ errors: [] }, input, () => decodeDosRecord(input))
      if (r !== undefined) {
        must((r.fileAttributes & ~DOS_STORED_ATTRIBUTES) === 0, 'a decoded record holds attributes it cannot store')
        const again = decodeDosRecord(encodeDosRecord(r))
        must(again !== undefined && again.fileAttributes === r.fileAttributes && again.creationTime === r.creationTime, 'a decoded user.DOSATTRIB does not round-trip')
      }
    },
  })
}

// ------------------------------------------------------------------ MS-FSCC SET_INFO buffers, EA lists

const SET_CLASSES = [4, 10, 11, 13, 14, 16, 19, 20, 39, 40, 64, 0, 255, 7]
const eaArb = fc.array(fc.record({ flags: fc.constantFrom(0, 0x80), name: fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/), value: bytes(0, 40) }), { minLength: 1, maxLength: 5 })
const setInfoArb = fc.oneof(
  eaArb.map(es => Buffer.concat([Buffer.from([FileInformationClass.FileFullEaInformation]), encodeFileFullEaInformation(es)])),
  fc.tuple(fc.constantFrom(...SET_CLASSES), fc.oneof(bytes(0, 80), fc.tuple(fc.boolean(), fc.string({ maxLength: 30 })).map(([r, n]) => {
    const name = u16s(n); const b = Buffer.alloc(20 + name.length); b[0] = r ? 1 : 0; b.writeUInt32LE(name.length, 16); name.copy(b, 20); return b
  }))).map(([cls, b]) => Buffer.concat([Buffer.from([cls]), b]))
)
target({
  name: 'fscc.decodeSetFileInfo',
  valid: setInfoArb,
  check (input) {
    if (input.length === 0) return
    const c: Contract = { errors: [NtStatusError] }
    const buf = input.subarray(1)
    run(c, buf, () => decodeSetFileInfo(input[0], buf))
    const eas = run(c, buf, () => decodeFileFullEaInformation(buf))
    if (eas !== undefined) for (const e of eas) must(e.value.length <= buf.length && e.name.length > 0, 'EA outside the buffer')
  },
})

// ------------------------------------------------------------------ stream names (src/vfs/streams.ts, src/smb2/path.ts)

// A CREATE name as UTF-16LE: path components, a stream part with or without a type, and the
// characters stream names may or may not hold.
const streamNameArb = fc.tuple(
  fc.array(fc.constantFrom('dir', 'a.txt', 'x*y', '', '.', '..', 'f:g', 'é'), { maxLength: 3 }),
  fc.constantFrom('file', 'b.dat', '', 'c:d'),
  fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
  fc.option(fc.constantFrom('$DATA', '$data', '$FOO', '', '$INDEX_ALLOCATION', 'x:y'), { nil: undefined })
).map(([dirs, file, stream, type]) => {
  const last = file + (stream === undefined ? '' : ':' + stream + (type === undefined ? '' : ':' + type))
  return u16s([...dirs, last].join('\\'))
})
target({
  name: 'streams.splitStreamName/smbPathWithStream/streamNameOfXattr',
  valid: streamNameArb,
  check (input) {
    const c: Contract = { errors: [NtStatusError] }
    const name = input.subarray(0, input.length & ~1).toString('utf16le')
    const r = run(c, input, () => smbPathWithStream(name))
    if (r !== undefined) {
      must(!r.rel.includes(':') && !r.rel.includes('\\'), 'a path component kept a colon or backslash')
      if (r.stream !== undefined && r.stream !== '') {
        must(!/[\\/:\0]/.test(r.stream), 'a stream name kept a separator')
        // What is stored is what is listed back: the xattr name round-trips.
        must(streamNameOfXattr(streamXattrName(r.stream)) === r.stream, 'stream name does not round-trip through its xattr name')
      }
    }
    const split = run(c, input, () => splitStreamName(name))
    if (split !== undefined) must(!split.file.includes(':'), 'file part kept a colon')
    // Any xattr name or value a file may carry (written by anyone) decodes without throwing.
    run({ errors: [] }, input, () => streamNameOfXattr(input.toString('latin1')))
    const v = run({ errors: [] }, input, () => decodeStreamValue(input))
    must(v !== undefined && v.length === Math.max(0, input.length - 1), 'stream value length')
  },
})

// ------------------------------------------------------------------ DCE/RPC PDUs, NDR, the pipe endpoint

const syntaxArb = fc.record({ uuid: fc.uuid(), version: fc.nat() })
const SRVSVC = { uuid: '4b324fc8-1670-01d3-1278-5a47bf6ee188', version: 3 }
const rpcArb = fc.oneof(
  fc.record({
    callId: fc.nat(), maxXmitFrag: fc.integer({ min: 0, max: 0xffff }), maxRecvFrag: fc.integer({ min: 0, max: 0xffff }), assocGroupId: fc.nat(),
    contexts: fc.array(fc.record({ contextId: fc.integer({ min: 0, max: 0xffff }), abstractSyntax: fc.oneof(fc.constant(SRVSVC), syntaxArb), transferSyntaxes: fc.array(fc.oneof(fc.constant(NDR20), syntaxArb), { maxLength: 3 }) }), { maxLength: 4 })
  })
    .map(p => encodeBind(p)),
  fc.record({ callId: fc.nat(), contextId: fc.integer({ min: 0, max: 3 }), opnum: fc.integer({ min: 0, max: 40 }), stub: bytes(0, 120), pfcFlags: fc.constantFrom(3, 1, 2, 0, 0x83) })
    .map(p => encodeRequest(p)),
  fc.record({
    ptype: fc.constant(PType.BIND_ACK), callId: fc.nat(), maxXmitFrag: fc.integer({ min: 0, max: 0xffff }), maxRecvFrag: fc.integer({ min: 0, max: 0xffff }), assocGroupId: fc.nat(), secondaryAddress: fc.string({ maxLength: 20 }),
    results: fc.array(fc.record({ result: fc.integer({ min: 0, max: 3 }), reason: fc.integer({ min: 0, max: 3 }), transferSyntax: syntaxArb }), { maxLength: 3 })
  })
    .map(a => encodeBindAck(a as Parameters<typeof encodeBindAck>[0]))
)
target({
  name: 'rpc.pdu',
  valid: rpcArb,
  check (input) {
    const c: Contract = { errors: [RpcPduError] }
    run(c, input, () => decodeCommonHeader(input))
    run(c, input, () => decodeBind(input))
    run(c, input, () => decodeRequest(input))
    run(c, input, () => decodeBindAck(input))
  },
})
target({
  name: 'rpc.NdrReader',
  valid: bytes(0, 200),
  check (input) {
    const c: Contract = { errors: [NdrError] }
    // A few reader programs shaped like the IDL this server decodes (srvsvc/wkssvc arguments).
    run(c, input, () => { const r = new NdrReader(input); r.wstringPtr(); r.u32(); r.pointer(x => { x.u32(); return x.wstringPtr() }); r.flush(); return r.u64() })
    run(c, input, () => { const r = new NdrReader(input); const n = r.u32(); return r.bytes(n) })
    run(c, input, () => { const r = new NdrReader(input); for (let i = 0; i < 8; i++) r.pointer(x => x.pointer(y => y.wstring())); r.flush() })
  },
})
// The pipe endpoint (async) is fuzzed in test/fuzz/rpc.test.ts.

// ------------------------------------------------------------------ configuration text

{
  const KEYS = ['path', 'read only', 'guest ok', 'valid users', 'server min protocol', 'server max protocol', 'smb3 encryption',
    'server signing', 'max connections', 'deadtime', 'browseable', 'comment', 'hosts allow', 'follow symlinks', 'force user', 'netbios name', 'bogus key']
  const VALUES = ['yes', 'no', '0', '-1', '99999999999999999999', 'SMB3_11', 'NT1', 'mandatory', '/tmp', '', '%U', 'a,b,"c d"', '\\']
  const line = fc.oneof(
    fc.constantFrom('[global]', '[share]', '[homes]', '[IPC$]', '[', ']', '; comment', '# comment', ''),
    fc.tuple(fc.constantFrom(...KEYS), fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 20 }))).map(([k, v]) => `${k} = ${v}`),
    fc.string({ maxLength: 30 }).map(s => s.replace(/include/gi, 'inc'))
  )
  target({
    name: 'config.parseConfigText',
    valid: fc.array(line, { maxLength: 20 }).map(ls => Buffer.from(ls.join('\n') + '\n')),
    check (input) {
      // `include` would read files: the text is kept from naming one.
      const text = input.toString('utf8').replace(/include/gi, 'inc')
      run({ errors: [ConfigError] }, input, () => parseConfigText(text, undefined, () => { throw new ConfigError('no includes in fuzzing') }))
    },
  })
}

// ------------------------------------------------------------------ the runs

/**
 * A NEGOTIATE (3.1.1 among others, its contexts lying about their lengths) through the whole
 * server on a new connection: the answer is a known dialect, or an error (STATUS_NOT_SUPPORTED
 * closes the connection, issue 20); never an internal error.
 */
const NEGOTIATE_SERVER = 'negotiate.server'
const negSrv = memServer({ log: true })
t.teardown(negSrv.cleanup)
async function negotiateServerCheck (input: Buffer): Promise<void> {
  if (input.length < 64) return
  const c = new MemClient(negSrv.state)
  // The client's request as it would travel: a fresh header (a NEGOTIATE, MessageId 0) over the body.
  const msg = Buffer.from(input)
  headerBytes({ creditCharge: 0, status: 0, command: 0, creditRequest: 1, flags: 0, nextCommand: 0, messageId: 0n, asyncId: 0n, treeId: 0, sessionId: 0n }).copy(msg, 0)
  const from = negSrv.logs.length
  const out = await c.raw(msg)
  const lines = negSrv.logs.splice(from)
  must(!lines.some(l => / error /.test(l)), `internal error: ${lines.join('; ')}`)
  if (out.length === 0) { must(c.closed, 'no response, connection open'); return }
  must(out.length === 1 && isSmb2(out[0]) && decodeHeader(out[0]).command === 0, 'answered with something else than one NEGOTIATE response')
  const status = out[0].readUInt32LE(8)
  if (status === 0) {
    must([0x0202, 0x0210, 0x0300, 0x0302, 0x0311].includes(out[0].readUInt16LE(64 + 4)), `dialect 0x${out[0].readUInt16LE(64 + 4).toString(16)} selected`)
    must(!c.closed, 'a successful NEGOTIATE closed the connection')
  } else {
    must(c.closed === (status === 0xc00000bb), `NEGOTIATE failed with 0x${status.toString(16)}; connection ${c.closed ? 'closed' : 'open'}`)
  }
}
t.test(NEGOTIATE_SERVER, async (t) => {
  await fuzz(t, { area: AREA, property: NEGOTIATE_SERVER, arb: negotiateArb, encode: b => b, check: negotiateServerCheck, weight: 0.5 })
  await fuzz(t, { area: AREA, property: NEGOTIATE_SERVER, arb: mutated(negotiateArb), encode: b => b, check: negotiateServerCheck, weight: 1 })
})

const checks: Record<string, (b: Buffer) => void | Promise<void>> = { ...Object.fromEntries(targets.map(x => [x.name, x.check])), [NEGOTIATE_SERVER]: negotiateServerCheck }

t.test('fixtures from earlier runs still pass', async (t) => { await replayFixtures(t, AREA, checks) })

for (const x of targets) {
  t.test(x.name, async (t) => {
    // Valid inputs must decode, then mutated ones must keep the contract.
    await fuzz(t, { area: AREA, property: x.name, arb: x.valid, encode: b => b, check: x.check, weight: 0.5 * (x.weight ?? 1) })
    await fuzz(t, { area: AREA, property: x.name, arb: mutated(x.valid), encode: b => b, check: x.check, weight: 2 * (x.weight ?? 1) })
    // Three valid messages, cut at every offset.
    const samples = fc.sample(x.valid, { numRuns: 3, seed: 42 })
    let cut = 0
    for (const s of samples) {
      for (const p of prefixes(s)) {
        try { x.check(Buffer.from(p)); cut++; executions.count++ } catch (e) {
          t.fail(`${x.name}: prefix of ${p.length}/${s.length} bytes`, { error: String((e as Error).stack) }); break
        }
      }
    }
    t.ok(true, `${x.name}: ${cut} prefixes`)
  })
}

t.test('claimed lengths of 2^31 and 2^32-1 allocate nothing in proportion', async (t) => {
  const huge = [0x7fffffff, 0x80000000, 0xffffffff]
  const before = process.memoryUsage().arrayBuffers
  let n = 0
  for (const x of targets) {
    for (const s of fc.sample(x.valid, { numRuns: 2, seed: 7 })) {
      // every 4-byte-aligned and odd position of the first 96 bytes gets each huge value
      for (let at = 0; at + 4 <= Math.min(s.length, 96); at++) {
        for (const v of huge) {
          const b = Buffer.from(s); b.writeUInt32LE(v, at)
          try { x.check(b); n++; executions.count++ } catch (e) { t.fail(`${x.name}: 0x${v.toString(16)} at ${at}`, { error: String((e as Error).stack) }) }
        }
      }
    }
  }
  const grown = process.memoryUsage().arrayBuffers - before
  t.ok(grown < 256 * 1024 * 1024, `array buffers grew by ${(grown / 1048576).toFixed(1)} MiB over ${n} inputs`)
})

t.test('executions', async (t) => { reportExecutions(t, 'test/fuzz/decoders.test.ts') })
