import t from 'tap'
import { md4, ntHash } from '../../../src/crypto/md4.js'
import { Rc4, rc4 } from '../../../src/crypto/rc4.js'

// RFC 1320 A.5 test suite
const RFC1320: Array<[string, string]> = [
  ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
  ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
  ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
  ['message digest', 'd9130a8164549fe818874806e1c7014b'],
  ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
  ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
  ['12345678901234567890123456789012345678901234567890123456789012345678901234567890',
    'e33b4ddc9c38f2199c3e7b164fcc0536']
]

t.test('MD4 RFC 1320 vectors', async (t) => {
  for (const [msg, want] of RFC1320) t.equal(md4(Buffer.from(msg, 'latin1')).toString('hex'), want, JSON.stringify(msg))
})

t.test('MD4 around the padding boundaries', async (t) => {
  // lengths 55/56/63/64 change the number of padded blocks; check they all run and differ
  const seen = new Set<string>()
  for (const n of [54, 55, 56, 57, 63, 64, 65, 119, 120, 1000]) seen.add(md4(Buffer.alloc(n, 0x61)).toString('hex'))
  t.equal(seen.size, 10)
})

t.test('ntHash: MS-NLMP 4.2.2.1.2 NTOWFv1("Password")', async (t) => {
  t.equal(ntHash('Password').toString('hex'), 'a4f49c406510bdcab6824ee7c30fd852')
  t.equal(ntHash('password').toString('hex'), '8846f7eaee8fb117ad06bdd830b7586c')
})

t.test('RC4 known answers', async (t) => {
  // Classic ARCFOUR test vectors
  t.equal(rc4(Buffer.from('Key'), Buffer.from('Plaintext')).toString('hex'), 'bbf316e8d940af0ad3')
  t.equal(rc4(Buffer.from('Wiki'), Buffer.from('pedia')).toString('hex'), '1021bf0420')
  t.equal(rc4(Buffer.from('Secret'), Buffer.from('Attack at dawn')).toString('hex'), '45a01f645fc35b383552544b9bf5')
  // MS-NLMP 4.2.4.2.3: RC4(KeyExchangeKey = SessionBaseKey, RandomSessionKey)
  t.equal(rc4(Buffer.from('8de40ccadbc14a82f15cb0ad0de95ca3', 'hex'), Buffer.alloc(16, 0x55)).toString('hex'),
    'c5dad2544fc9799094ce1ce90bc9d03e')
})

t.test('RC4 keeps its stream state across updates', async (t) => {
  const key = Buffer.from('0123456789abcdef')
  const data = Buffer.alloc(100, 3)
  const whole = rc4(key, data)
  const r = new Rc4(key)
  const parts = Buffer.concat([r.update(data.subarray(0, 33)), r.update(data.subarray(33))])
  t.same(parts, whole)
  t.throws(() => new Rc4(Buffer.alloc(0)), RangeError)
})
