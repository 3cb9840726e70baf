// The in-place AEAD of the native addon (native/src/aead.c, the OpenSSL inside Node) against
// node:crypto: for every SMB cipher, the same ciphertext and tag for the same message whatever
// its chunking, decryption over the message's own bytes, and refusal of any changed byte. Both
// engines run through the same functions (useNativeAead switches them).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { aeadOpen, aeadOpenInPlace, aeadSeal, DecryptError, useNativeAead } from '../../../src/crypto/encryption.js'
import { native, nativeAvailable } from '../../../src/io/native.js'

const available = nativeAvailable && native.aeadAvailable
const ciphers = [{ id: 1, name: 'AES-128-CCM', key: 16, iv: 11 }, { id: 2, name: 'AES-128-GCM', key: 16, iv: 12 },
  { id: 3, name: 'AES-256-CCM', key: 32, iv: 11 }, { id: 4, name: 'AES-256-GCM', key: 32, iv: 12 }]
const sizes = [0, 1, 15, 16, 17, 4096 + 3, 1024 * 1024 + 5]

function cut (m: Buffer, at: number[]): Buffer[] {
  const out: Buffer[] = []
  let prev = 0
  for (const a of at) if (a > prev && a < m.length) { out.push(m.subarray(prev, a)); prev = a }
  out.push(m.subarray(prev))
  return out
}

t.test('this Node exports the OpenSSL functions the addon uses', { skip: !nativeAvailable && 'native addon not built' }, async (t) => {
  t.equal(native.aeadAvailable, true, 'aeadAvailable (node 24 carries OpenSSL and exports EVP_*)')
})

t.test('native and node:crypto agree, chunked or whole, and native opens in place', { skip: !available && 'no native AEAD here' }, async (t) => {
  t.teardown(() => { useNativeAead(true) })
  for (const c of ciphers) {
    for (const size of sizes) {
      const key = randomBytes(c.key)
      const iv = randomBytes(c.iv)
      const aad = randomBytes(32)
      const m = randomBytes(size)
      useNativeAead(false)
      const ref = aeadSeal(c.id, key, iv, aad, [Buffer.from(m)])
      const refCt = Buffer.concat(ref.out)
      useNativeAead(true)
      // Chunked (GCM streams; CCM concatenates) and with the payload owned (encrypted over itself).
      const chunks = cut(Buffer.from(m), [5, 64, 4096])
      const owned = chunks[chunks.length - 1]
      const copyOfOwned = Buffer.from(owned)
      const sealed = aeadSeal(c.id, key, iv, aad, chunks, size, 16, new Set([owned]))
      t.ok(Buffer.concat(sealed.out).equals(refCt), `${c.name} ${size} B: same ciphertext`)
      t.ok(sealed.tag.equals(ref.tag), `${c.name} ${size} B: same tag`)
      if (chunks.length > 1 && c.id % 2 === 0) t.ok(chunks[0].equals(m.subarray(0, chunks[0].length)), `${c.name}: a chunk not owned is left as it was`)
      if (c.id % 2 === 0 && owned.length > 0) t.notOk(owned.equals(copyOfOwned), `${c.name}: the owned chunk was encrypted over itself`)

      const body = Buffer.from(refCt)
      aeadOpenInPlace(c.id, key, iv, aad, body, ref.tag)
      t.ok(body.equals(m), `${c.name} ${size} B: opened in place`)
      t.ok(aeadOpen(c.id, key, iv, aad, refCt, ref.tag).equals(m), 'node:crypto opens the native ciphertext too')

      const badTag = Buffer.from(ref.tag); badTag[3] ^= 0x40
      t.throws(() => { aeadOpenInPlace(c.id, key, iv, aad, Buffer.from(refCt), badTag) }, DecryptError, `${c.name} ${size} B: a changed tag is refused`)
      const badAad = Buffer.from(aad); badAad[31] ^= 1
      t.throws(() => { aeadOpenInPlace(c.id, key, iv, badAad, Buffer.from(refCt), ref.tag) }, DecryptError, 'a changed header is refused')
      if (size > 0) {
        const badCt = Buffer.from(refCt); badCt[size >> 1] ^= 0x80
        t.throws(() => { aeadOpenInPlace(c.id, key, iv, aad, badCt, ref.tag) }, DecryptError, 'a changed ciphertext byte is refused')
      }
    }
  }
})

t.test('aeadNow refuses shapes it does not take', { skip: !available && 'no native AEAD here' }, async (t) => {
  const k = randomBytes(16)
  t.throws(() => native.aeadNow(true, 2, k, randomBytes(11), Buffer.alloc(0), [Buffer.alloc(4)], Buffer.alloc(16)), { code: 'ERR_OUT_OF_RANGE' }, 'GCM with an 11-byte iv')
  t.throws(() => native.aeadNow(true, 4, k, randomBytes(12), Buffer.alloc(0), [Buffer.alloc(4)], Buffer.alloc(16)), { code: 'ERR_OUT_OF_RANGE' }, 'AES-256 with a 128-bit key')
  t.throws(() => native.aeadNow(true, 1, k, randomBytes(11), Buffer.alloc(0), [Buffer.alloc(4), Buffer.alloc(4)], Buffer.alloc(16)), { code: 'ERR_OUT_OF_RANGE' }, 'CCM in two pieces')
  t.throws(() => native.aeadNow(false, 1, k, randomBytes(11), Buffer.alloc(0), [Buffer.alloc(0)], Buffer.alloc(16)), { code: 'ERR_OUT_OF_RANGE' }, 'an empty CCM message (OpenSSL would not check its tag)')
  t.throws(() => native.aeadNow(true, 5, k, randomBytes(12), Buffer.alloc(0), [Buffer.alloc(4)], Buffer.alloc(16)), { code: 'ERR_INVALID_ARG_TYPE' }, 'an unknown cipher')
})
