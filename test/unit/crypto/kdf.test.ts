import t from 'tap'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { smb3Kdf, deriveSessionKeys } from '../../../src/crypto/kdf.js'
import { Dialect } from '../../../src/wire/constants.js'

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const z = (s: string): Buffer => Buffer.from(s + '\0', 'latin1')

// Microsoft Open Specifications blog, "SMB 2 and SMB 3 security in Windows 10: the anatomy of
// signing and cryptographic keys", Appendix: Key derivation examples. The blog lists the keys
// from the client's side: its EncryptionKey protects client->server traffic, which is the
// server's DecryptionKey, and vice versa.
t.test('SMB 3.0 key derivation example (first channel)', async (t) => {
  const keys = deriveSessionKeys(Dialect.SMB3_00, hex('7CD451825D0450D235424E44BA6E78CC'), undefined, 128)
  t.equal(keys.signingKey.toString('hex'), '0b7e9c5cac36c0f6ea9ab275298cedce')
  t.equal(keys.decryptionKey!.toString('hex'), 'fad27796665b313ebb578f388632b4f7')
  t.equal(keys.encryptionKey!.toString('hex'), 'b0f0427f7ceb416d1d9dcc0cd4f99447')
  t.equal(keys.applicationKey.toString('hex'), 'bb23a4575aa26c721af525af15a87b4f')
})

t.test('SMB 3.0 key derivation example (second channel signing key)', async (t) => {
  const keys = deriveSessionKeys(Dialect.SMB3_02, hex('4E01A2B313BCF660CC250BEF021AEDE6'), undefined)
  t.equal(keys.signingKey.toString('hex'), 'ba1a17dbbfec349bca105563d598952f')
})

export const PREAUTH_311 = hex(`0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB7928622DDDAD522D97
  51640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01`)

t.test('SMB 3.1.1 key derivation example (first channel)', async (t) => {
  const keys = deriveSessionKeys(Dialect.SMB3_11, hex('270E1BA896585EEB7AF3472D3B4C75A7'), PREAUTH_311, 128)
  t.equal(keys.signingKey.toString('hex'), '73fe7a9a77bef0bde49c650d8ccb5f76')
  t.equal(keys.decryptionKey!.toString('hex'), '629bcbc54422a0f572b97f45989b6073')
  t.equal(keys.encryptionKey!.toString('hex'), 'e2af0dcefac68da71a0dfbd0d1350d74')
  t.equal(keys.applicationKey.toString('hex'), '6d7ad7954e9ec61e907b4d473dc178ff')
})

t.test('smb3Kdf equals an independent HMAC-SHA256 of the SP800-108 input', async (t) => {
  const key = hex('00112233445566778899aabbccddeeff')
  const label = z('SMBS2CCipherKey')
  const context = Buffer.alloc(64, 0x5a)
  for (const L of [128, 256]) {
    const input = Buffer.concat([hex('00000001'), label, Buffer.alloc(1), context,
      Buffer.from([0, 0, L >> 8, L & 0xff])])
    const want = Buffer.from(hmac(sha256, key, input)).subarray(0, L / 8)
    t.same(smb3Kdf(key, label, context, L), want, `L=${L}`)
  }
  t.throws(() => smb3Kdf(key, label, context, 512), RangeError)
})

t.test('AES-256 ciphers: encryption keys are 32 bytes from the full key, signing stays 16', async (t) => {
  const full = Buffer.alloc(32, 7)
  const keys = deriveSessionKeys(Dialect.SMB3_11, full, PREAUTH_311, 256)
  t.equal(keys.signingKey.length, 16)
  t.equal(keys.encryptionKey!.length, 32)
  t.equal(keys.decryptionKey!.length, 32)
  t.same(keys.encryptionKey, smb3Kdf(full, z('SMBS2CCipherKey'), PREAUTH_311, 256))
  t.same(keys.signingKey, smb3Kdf(full.subarray(0, 16), z('SMBSigningKey'), PREAUTH_311, 128))
})

t.test('2.x: the signing key is the session key', async (t) => {
  const sk = hex('0102030405060708090a0b0c0d0e0f10')
  const keys = deriveSessionKeys(Dialect.SMB2_10, sk, undefined)
  t.same(keys.signingKey, sk)
  t.equal(keys.encryptionKey, undefined)
  // short keys are right-padded with zeros to 16 bytes (MS-SMB2 3.3.1.8 Session.SessionKey)
  t.same(deriveSessionKeys(Dialect.SMB2_02, sk.subarray(0, 8), undefined).signingKey,
    Buffer.concat([sk.subarray(0, 8), Buffer.alloc(8)]))
  t.throws(() => deriveSessionKeys(Dialect.SMB3_11, sk, undefined), RangeError)
})
