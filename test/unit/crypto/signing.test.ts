import t from 'tap'
import { randomBytes } from 'node:crypto'
import { cmac, gcm } from '@noble/ciphers/aes.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { AesCmac, Signer, SigningAlgorithm } from '../../../src/crypto/signing.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

// RFC 4493 section 4
const RFC_KEY = hex('2b7e151628aed2a6abf7158809cf4f3c')
const RFC_MSG = hex(`6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
  30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`)

t.test('AES-CMAC RFC 4493 vectors', async (t) => {
  const c = new AesCmac(RFC_KEY)
  t.equal(c.k1.toString('hex'), 'fbeed618357133667c85e08f7236a8de')
  t.equal(c.k2.toString('hex'), 'f7ddac306ae266ccf90bc11ee46d513b')
  t.equal(c.mac(Buffer.alloc(0)).toString('hex'), 'bb1d6929e95937287fa37d129b756746')
  t.equal(c.mac(RFC_MSG.subarray(0, 16)).toString('hex'), '070a16b46b4d4144f79bdd9dd04a287c')
  t.equal(c.mac(RFC_MSG.subarray(0, 40)).toString('hex'), 'dfa66747de9ae63030ca32611497c827')
  t.equal(c.mac(RFC_MSG).toString('hex'), '51f0bebf7e3b9d92fc49741779363cfe')
  // the same in pieces of every size
  for (let step = 1; step <= 64; step++) {
    const parts: Buffer[] = []
    for (let i = 0; i < RFC_MSG.length; i += step) parts.push(RFC_MSG.subarray(i, i + step))
    t.equal(c.mac(parts).toString('hex'), '51f0bebf7e3b9d92fc49741779363cfe', `pieces of ${step}`)
  }
})

t.test('AES-CMAC agrees with @noble/ciphers on random lengths', async (t) => {
  const key = randomBytes(16)
  const c = new AesCmac(key)
  for (const n of [0, 1, 15, 16, 17, 31, 32, 33, 64, 100, 1000, 4096 + 7]) {
    const m = randomBytes(n)
    t.same(c.mac([m.subarray(0, n >> 1), m.subarray(n >> 1)]), Buffer.from(cmac(m, key)), `length ${n}`)
  }
})

// "the anatomy of signing and cryptographic keys", Appendix, SMB 3.1.1: the final
// SESSION_SETUP response, signed with AES-128-CMAC under SigningKey 73FE7A9A...
const SIGNED_SESSION_SETUP_RESPONSE = hex(`
FE534D4240000100000000000100800009000000000000000300000000000000FFFE000000000000
1900000000100000EBE146DA120BA25FC3376A49DFE31BC10900000048001D00A11B3019A0030A01
00A3120410010000003B453CDC3524164200000000`)
const SIGNING_KEY_311 = hex('73FE7A9A77BEF0BDE49C650D8CCB5F76')

t.test('AES-CMAC SMB2 signing: published SMB 3.1.1 SESSION_SETUP response', async (t) => {
  const s = new Signer(SigningAlgorithm.AesCmac, SIGNING_KEY_311)
  const msg = Buffer.from(SIGNED_SESSION_SETUP_RESPONSE)
  t.equal(s.sign(msg).toString('hex'), 'ebe146da120ba25fc3376a49dfe31bc1')
  t.same(msg, SIGNED_SESSION_SETUP_RESPONSE, 'caller buffer untouched')
  t.ok(s.verify(msg))
  t.ok(s.verify([msg.subarray(0, 64), msg.subarray(64, 70), msg.subarray(70)]), 'chunked')
  const bad = Buffer.from(msg); bad[100] ^= 1
  t.notOk(s.verify(bad))
  const out = Buffer.alloc(20, 0xee)
  s.sign(msg, out)
  t.equal(out.subarray(0, 16).toString('hex'), 'ebe146da120ba25fc3376a49dfe31bc1')
  t.equal(out[16], 0xee)
})

function smb2Message (bodyLen: number, opts: { flags?: number, command?: number, messageId?: bigint } = {}): Buffer {
  const m = randomBytes(64 + bodyLen)
  m.writeUInt32LE(0x424d53fe, 0)
  m.writeUInt16LE(opts.command ?? 8, 12)
  m.writeUInt32LE(opts.flags ?? 0, 16)
  m.writeBigUInt64LE(opts.messageId ?? 42n, 24)
  return m
}
const zeroSig = (m: Buffer): Buffer => { const c = Buffer.from(m); c.fill(0, 48, 64); return c }

t.test('HMAC-SHA256 signing = first 16 bytes of HMAC over the zeroed-signature message', async (t) => {
  const key = randomBytes(16)
  const s = new Signer(SigningAlgorithm.HmacSha256, key)
  for (const n of [0, 1, 100, 5000]) {
    const m = smb2Message(n)
    const want = Buffer.from(hmac(sha256, key, zeroSig(m))).subarray(0, 16)
    const before = Buffer.from(m)
    t.same(s.sign(m), want, `body ${n}`)
    t.same(s.sign([m.subarray(0, 64), m.subarray(64)]), want)
    t.same(m, before)
    want.copy(m, 48)
    t.ok(s.verify(m))
  }
})

t.test('AES-GMAC signing agrees with @noble GCM (message as AAD, empty plaintext)', async (t) => {
  const key = randomBytes(16)
  const s = new Signer(SigningAlgorithm.AesGmac, key)
  const cases = [
    { flags: 0, command: 8, role: 0 }, // client request
    { flags: 1, command: 8, role: 1 }, // server response
    { flags: 0, command: 0x0c, role: 2 }, // client CANCEL
    { flags: 1, command: 0x0c, role: 1 } // a response never has the CANCEL bit
  ]
  for (const c of cases) {
    for (const n of [0, 13, 4096]) {
      const m = smb2Message(n, { flags: c.flags, command: c.command, messageId: 0x0102030405060708n })
      const nonce = Buffer.alloc(12)
      nonce.writeBigUInt64LE(0x0102030405060708n, 0)
      nonce.writeUInt32LE(c.role, 8)
      const want = Buffer.from(gcm(key, nonce, zeroSig(m)).encrypt(new Uint8Array(0)))
      t.same(s.sign(m), want, `flags ${c.flags} command ${c.command} body ${n}`)
      t.same(s.sign([m.subarray(0, 64), m.subarray(64, 64 + (n >> 1)), m.subarray(64 + (n >> 1))]), want)
    }
  }
})

t.test('bad keys and short headers are refused', async (t) => {
  t.throws(() => new Signer(SigningAlgorithm.AesCmac, Buffer.alloc(15)), RangeError)
  t.throws(() => new Signer(SigningAlgorithm.AesGmac, Buffer.alloc(32)), RangeError)
  const s = new Signer(SigningAlgorithm.AesCmac, Buffer.alloc(16))
  t.throws(() => s.sign(Buffer.alloc(63)), RangeError)
  t.throws(() => s.sign([]), RangeError)
})
