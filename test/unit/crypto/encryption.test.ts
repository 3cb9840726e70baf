// SMB3 encryption against published known answers:
//  - Microsoft Open Specifications blog, "Encryption in SMB 3.0: a protocol perspective" (2012):
//    the SMB 3.0 AES-128-CCM WRITE/READ example, session 0x8e40014000011;
//  - Microsoft Open Specifications blog, "SMB 3.1.1 Pre-authentication integrity in Windows 10",
//    Appendix A.1 (AES-128-GCM, session 0x100000000025) and A.2 (AES-128-CCM, session
//    0x100000000021): keys from the preauth hash, then WRITE/READ requests and responses;
//  - the GCM test cases of McGrew/Viega as published by NIST (AES-128 TC2/TC4, AES-256 TC16) and
//    NIST SP 800-38C Appendix C examples C.1–C.3 for CCM,
// all through the same node:crypto path the server uses (aeadSeal/aeadOpen, sealTransform,
// SessionCipher), and GCM cross-checked against @noble/ciphers. The blog lists keys from the
// client's side: the client's EncryptionKey is the server's DecryptionKey and vice versa.
import t from 'tap'
import { gcm } from '@noble/ciphers/aes.js'
import {
  aeadOpen, aeadOpenInPlace, aeadSeal, DecryptError, OPEN_SLICE, openTransform, openTransformInPlace, sealTransform, SessionCipher,
  TRANSFORM_HEADER_SIZE,
} from '../../../src/crypto/encryption.js'
import { deriveSessionKeys } from '../../../src/crypto/kdf.js'
import { Dialect } from '../../../src/wire/constants.js'

/** What every authentication failure throws (tap matches errors by their fields). */
const DECRYPT_ERROR = { name: 'DecryptError', code: 'SMBTS_ERR_DECRYPT' }
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const CCM128 = 1
const GCM128 = 2
const CCM256 = 3
const GCM256 = 4

interface Exchange { name: string, plain: Buffer, transformed: Buffer }
interface Example {
  title: string
  dialect: number
  cipher: number
  sessionId: bigint
  sessionKey: Buffer
  preauth?: Buffer
  /** From the server's side. */
  keys: { signing: string, decryption: string, encryption: string, application: string }
  requests: Exchange[]
  responses: Exchange[]
}

const EXAMPLES: Example[] = [
  {
    title: 'SMB 3.0 AES-128-CCM (Encryption in SMB 3.0: a protocol perspective)',
    dialect: Dialect.SMB3_00,
    cipher: CCM128,
    sessionId: 0x8e40014000011n,
    sessionKey: hex('B4546771B515F766A86735532DD6C4F0'),
    keys: {
      signing: 'F773CD23C18FD1E08EE510CADA7CF852',
      decryption: '261B72350558F2E9DCF613070383EDBF',
      encryption: '8FE2B57EC34D2DB5B1A9727F526BBDB5',
      application: '77432F808CE99156B5BC6A3676D730D1',
    },
    requests: [{
      name: 'WRITE request',
      plain: hex(`FE534D4240000100000000000900400008000000000000000400000000000000
        FFFE0000010000001100001400E4080000000000000000000000000000000000
        3100700017000000000000000000000015010000390000020100000039020000
        00000000000000007000000000000000536D623320656E6372797074696F6E20
        74657374696E67`),
      transformed: hex(`FD534D4281A286535415445DAE393921E44FA42E66E69A111892584FB5ED524A
        744DA3EE87000000000001001100001400E4080025C8FEE16605A437832D1CD5
        2DA9F4645333482A175FE5384563F45FCDAFAEF38BC62BA4D5C62897996625A4
        4C29BE5658DE2E6117585779E7B59FFD971278D08580D7FA899E410E910EABF5
        AA1DB43050B33B49182637759AC15D84BFCDF5B6B238993C0F4CF4D6012023F6
        C627297075D84B7803912D0A9639634453595EF3E33FFE4E7AC2AB`),
    }, {
      name: 'READ request',
      plain: hex(`FE534D4240000100000000000800400008000000000000000500000000000000
        FFFE0000010000001100001400E4080000000000000000000000000000000000
        3100000017000000000000000000000015010000390000020100000039020000
        0000000000000000000000000000000000`),
      transformed: hex(`FD534D42E93601498B76D6F7A72D5EF9B6C79FAFA5123A25F983E245983F413B
        8B429AF271000000000001001100001400E408009A464F709AA663F8C2FC3907
        D63CBF6F98B1E3DD649ED366009FD0B40A365224718E5440E053F6E01AE462FD
        B721BF91C3A6E52E14F9EFF005F445761289FF1272908B52754C8FCB949F228A
        C104A66204289A205BCBC47509D04AF9A907002B96863358B3B7CBA5E3779300
        74FCDF3550`),
    }],
    responses: [{
      name: 'WRITE response',
      plain: hex(`FE534D4240000100000000000900210009000000000000000400000000000000
        FFFE0000010000001100001400E4080000000000000000000000000000000000
        11000000170000000000000000000000`),
      transformed: hex(`FD534D42A6015530A18F6D9AFFE22AFAE8E66484860000000000000011000014
        00E4080050000000000001001100001400E40800DBF46435C5F14169293CE079
        E344479BF670227E49873F458672C3098DAC467DD5809F369D67409166515787
        1483E01F7BECD02064EAC3E235F913668BBC2F097980D4B378F1993EFF6E60D1
        77309E5B`),
    }, {
      name: 'READ response',
      plain: hex(`FE534D4240000100000000000800210009000000000000000500000000000000
        FFFE0000010000001100001400E4080000000000000000000000000000000000
        11005000170000000000000000000000536D623320656E6372797074696F6E20
        74657374696E67`),
      transformed: hex(`FD534D42ABD518B68C2F04D7879F482B689EB83F870000000000000011000014
        00E4080067000000000001001100001400E40800493D6FE2BDBEB435CF5F5469
        70C7BB57BF20E713C75A3D045507E0D68E5C0346659D6FFB8AC1504A786CA2BB
        89C9E7FE4F313E910A04180D2D0EA7DF636329E5A3285984500EF86FE9D55DA4
        FAB9531CFDD4C551D47F3C73124BB4590A45052B694048B991CCF5`),
    }],
  },
  {
    title: 'SMB 3.1.1 AES-128-GCM (Pre-authentication integrity in Windows 10, Appendix A.1)',
    dialect: Dialect.SMB3_11,
    cipher: GCM128,
    sessionId: 0x100000000025n,
    sessionKey: hex('419FDDF34C1E001909D362AE7FB6AF79'),
    preauth: hex(`B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDBA7DB256BA2EA30E9
      77F11F9B113247578E0E915C6D2A513B8F2FCA5707DC8770`),
    keys: {
      signing: '8765949DFEAEE105CE9118B45BE988F0',
      decryption: 'A2F5E80E5D59103034F32E52F698E5EC',
      encryption: '748C50868C90F302962A5C35F5F9A8BF',
      application: '099D610789FBE82055B313601C3E8CC4',
    },
    requests: [{
      name: 'WRITE request',
      plain: hex(`FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000
        25000000001000000000000000000000000000000000000031007000170000000000000000000000
        0600000004000000010000000400000000000000000000007000000000000000536D623320656E63
        72797074696F6E2074657374696E67`),
      transformed: hex(`FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C0000000087000000
        0000010025000000001000006ECDD2A7AFC7B47763057A041B8FD4DAFFE990B70C9E09D36C084E02
        D14EF247F8BDE38ACF6256F8B1D3B56F77FBDEB312FEA5E92CBCC1ED8FB2EBBFAA75E49A4A394BB4
        4576545567C24D4C014D47C9FBDFDAFD2C4F9B72F8D256452620A299F48E29E53D6B61D1C13A19E9
        1AF013F00D17E3ABC2FC3D36C8C1B6B93973253852DBD442E46EE8`),
    }, {
      name: 'READ request',
      plain: hex(`FE534D4240000100000000000800010008000000000000000600000000000000FFFE000001000000
        25000000001000000000000000000000000000000000000031000000170000000000000000000000
        060000000400000001000000040000000000000000000000000000000000000000`),
      transformed: hex(`FD534D426DAC0B6FD85A3ED42BB917DA38FE0386D7AA8C6D36859243B715E0A60000000071000000
        00000100250000000010000088A47BF09CA3C3141CDD7306BE9D9475AB24FCCB833D77461C041F8F
        B983D0C188F0729272B31D9D3D0DC6B687C069EEE0CC8EACA2C536D019ACC9E185D1EB630E0FCB79
        3EEECEB06D82A1D77706E700DBEBFB4FEB54D7AD2D97E7288804F90757FE4D08D6A84A3FF433E745
        1E768E4699`),
    }],
    responses: [{
      name: 'WRITE response',
      plain: hex(`FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000
        25000000001000000000000000000000000000000000000011000000170000000000000000000000`),
      transformed: hex(`FD534D42ACBE1CB7ED343ADF1725EF144D90D4B0E06831DD2E8EB7B4000000000000000050000000
        00000100250000000010000026BBBF949983A6C1C796559D0F2C510CB651D1F7B6AC8DED32A2A0B8
        F2D793A815C6F6B848D69767A215841A42D400AE6DDB5F0B44173A014973321FDD7950DA6179159B
        82E03C9E18A050FF0EA1C967`),
    }, {
      name: 'READ response',
      plain: hex(`FE534D4240000100000000000800010001000000000000000600000000000000FFFE000001000000
        25000000001000000000000000000000000000000000000011005000170000000000000000000000
        536D623320656E6372797074696F6E2074657374696E67`),
      transformed: hex(`FD534D427F714B3B9D8FA1198584E71C2BAA1CB6E16831DD2E8EB7B4000000000000000067000000
        000001002500000000100000FECEDF4D03BB11A6CC5D8A53BE33D6D8701986342B4197D306E16F9C
        BB218E92F7F8281F51CE68BB85A20D87DE90EBBF80538066D1C37513C0A58D70936D537B624F5500
        202A612B6CD30D448A82791A0B2E049ED512AFAEFB06E98AB3D6F931D7D50DB2DBD36A`),
    }],
  },
  {
    title: 'SMB 3.1.1 AES-128-CCM (Pre-authentication integrity in Windows 10, Appendix A.2)',
    dialect: Dialect.SMB3_11,
    cipher: CCM128,
    sessionId: 0x100000000021n,
    sessionKey: hex('07B7F69C1E2581662DF6987E88F9E891'),
    preauth: hex(`DECF98A420718718F22090D3580FCC5E484BD310FA1268210C6E86335A8891E767F5BCD99FA5A785
      9D665AD07A73EA94E1BCDB7CFA69A6962A28A244138340B1`),
    keys: {
      signing: '3DCC82C5795AE27F383242761078C59B',
      decryption: 'DFAAA31AAE40A2485D47AC4DF09FDA1D',
      encryption: '95C544AEF6072680DA1CE49A68A97FA6',
      application: '7A2F0F73EC2D530879B2913BBFCE242F',
    },
    requests: [{
      name: 'WRITE request',
      plain: hex(`FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000
        21000000001000000000000000000000000000000000000031007000170000000000000000000000
        0500000004000000010000000400000000000000000000007000000000000000536D623320656E63
        72797074696F6E2074657374696E67`),
      transformed: hex(`FD534D42E89551D666DAB8993488F5A97103116C9F6F1EAAD7E9F24AACD38F000000000087000000
        00000100210000000010000056A74778199A9D2B6E9C3A376FD88D27680694FED253A313BEB07381
        AE8689F973ACDB8D716E4477803BCE53A92E1B81FA3E965AD9AF2C89C08CE66A344664453B8FC881
        18EDC9814CF58E92AA465E6EFB09958A9FDAD96FBD55B36A710C30D5E7C64AD7B9449F9F17EDD024
        FE8BA79154F340A82740D1D5180C69B0A2DE6A4BA893BD55D3210E`),
    }, {
      name: 'READ request',
      plain: hex(`FE534D4240000100000000000800010008000000000000000600000000000000FFFE000001000000
        21000000001000000000000000000000000000000000000031000000170000000000000000000000
        050000000400000001000000040000000000000000000000000000000000000000`),
      transformed: hex(`FD534D4235BF9600C841F0CDA9BD1BC3727B7E36A0F92E964EDC3049B86E19000000000071000000
        000001002100000000100000C4CCD3EB483A0638E69C99E391E7F64BCC10D6BEE46FEEA258C4BCAF
        792CB5A6E69283924081806DAB64827E9D14A5345D5221AB6DAFCB0E89FC2606B63D92163F4F6C93
        D1213D86ABF123B93EAD3AEF9A3471EFD68A423A00A6E0064D9AE3C842EFFFAD236A3BF25D37F4CD
        054C97DE18`),
    }],
    responses: [{
      name: 'WRITE response',
      plain: hex(`FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000
        21000000001000000000000000000000000000000000000011000000170000000000000000000000`),
      transformed: hex(`FD534D42DD33EC41A927DD51476FE887C2D3C136D96831DD2E8EB7B4000000000000000050000000
        000001002100000000100000F783157E0F6F1C055D746753CA16D20C21088E2A67564E056C2F68A7
        F14F226C3BD809B7A2D52E5FE4ECF49821BC6001733430CF174E2764B3CCB213AAD8BB9FBAF6C15E
        13D9120965390E004A96A3F7`),
    }, {
      name: 'READ response',
      plain: hex(`FE534D4240000100000000000800010001000000000000000600000000000000FFFE000001000000
        21000000001000000000000000000000000000000000000011005000170000000000000000000000
        536D623320656E6372797074696F6E2074657374696E67`),
      transformed: hex(`FD534D42E241A13C7E1EE42ECF1FD69F3B8668C6DA6831DD2E8EB7B4000000000000000067000000
        00000100210000000010000015D67234FC8358D7BA1BF037ABC8EFD41A0A8F9BB04B16DEB1E85606
        BD8C2770823FE6239A286CB3E3D5762ABBD53FD8DE11ED491FE905E146A8FFCE09414AB741103D63
        7E28B19C6BA759B399DCC21FAE24CF2A455A13B215FC2857ABB513927F9F271D1C208B`),
    }],
  },
]

/** The plaintext cut into pieces at the given offsets (the server encrypts iovecs). */
const cut = (b: Buffer, at: number[]): Buffer[] => {
  const out: Buffer[] = []
  let from = 0
  for (const x of at) { out.push(b.subarray(from, x)); from = x }
  out.push(b.subarray(from))
  return out
}

for (const ex of EXAMPLES) {
  t.test(ex.title, async (t) => {
    const keys = deriveSessionKeys(ex.dialect, ex.sessionKey, ex.preauth, 128)
    t.equal(keys.signingKey.toString('hex'), ex.keys.signing.toLowerCase(), 'SigningKey')
    t.equal(keys.decryptionKey!.toString('hex'), ex.keys.decryption.toLowerCase(), 'DecryptionKey (the client\'s EncryptionKey)')
    t.equal(keys.encryptionKey!.toString('hex'), ex.keys.encryption.toLowerCase(), 'EncryptionKey (the client\'s DecryptionKey)')
    t.equal(keys.applicationKey.toString('hex'), ex.keys.application.toLowerCase(), 'ApplicationKey')

    const fromClient = new SessionCipher(ex.cipher, keys.decryptionKey!)
    for (const r of ex.requests) {
      t.equal(r.transformed.readBigUInt64LE(44), ex.sessionId, `${r.name}: SessionId`)
      t.same(fromClient.decrypt(r.transformed), r.plain, `${r.name}: the server decrypts it`)
      // The client's side of the same operation, byte for byte.
      const nonce = r.transformed.subarray(20, 36)
      t.same(Buffer.concat(sealTransform(ex.cipher, keys.decryptionKey!, nonce, ex.sessionId, [r.plain])), r.transformed, `${r.name}: sealed byte for byte`)
      t.same(Buffer.concat(sealTransform(ex.cipher, keys.decryptionKey!, nonce, ex.sessionId, cut(r.plain, [1, 64, 65, r.plain.length - 3]))), r.transformed, `${r.name}: sealed from chunks`)
    }
    for (const r of ex.responses) {
      const nonce = r.transformed.subarray(20, 36)
      t.same(Buffer.concat(sealTransform(ex.cipher, keys.encryptionKey!, nonce, ex.sessionId, [r.plain])), r.transformed, `${r.name}: the server's encryption, byte for byte`)
      t.same(openTransform(ex.cipher, keys.encryptionKey!, r.transformed), r.plain, `${r.name}: decrypts back`)
      t.throws(() => openTransform(ex.cipher, keys.decryptionKey!, r.transformed), DECRYPT_ERROR, `${r.name}: the other direction's key fails`)
    }
  })
}

// NIST GCM (the McGrew/Viega test cases in NIST's GCM validation set).
const GCM_P = hex(`d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
  1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39`)
const GCM_A = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2')
const GCM_VECTORS = [
  { name: 'AES-128 TC2', cipher: GCM128, key: hex('00'.repeat(16)), iv: hex('00'.repeat(12)), p: hex('00'.repeat(16)), a: Buffer.alloc(0), c: '0388dace60b6a392f328c2b971b2fe78', tag: 'ab6e47d42cec13bdf53a67b21257bddf' },
  {
    name: 'AES-128 TC4', cipher: GCM128, key: hex('feffe9928665731c6d6a8f9467308308'), iv: hex('cafebabefacedbaddecaf888'), p: GCM_P, a: GCM_A,
    c: '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
    tag: '5bc94fbc3221a5db94fae95ae7121a47',
  },
  {
    name: 'AES-256 TC16', cipher: GCM256, key: hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'), iv: hex('cafebabefacedbaddecaf888'), p: GCM_P, a: GCM_A,
    c: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
]

t.test('NIST GCM vectors through aeadSeal/aeadOpen, and @noble/ciphers agrees', async (t) => {
  for (const v of GCM_VECTORS) {
    const { out: parts, tag } = aeadSeal(v.cipher, v.key, v.iv, v.a, cut(v.p, [5, 16]))
    const out = Buffer.concat(parts)
    t.equal(out.toString('hex'), v.c, `${v.name} ciphertext`)
    t.equal(tag.toString('hex'), v.tag, `${v.name} tag`)
    t.same(aeadOpen(v.cipher, v.key, v.iv, v.a, out, tag), v.p, `${v.name} opens`)
    for (const slice of [16, 17, OPEN_SLICE]) {
      const body = Buffer.from(out)
      aeadOpenInPlace(v.cipher, v.key, v.iv, v.a, body, tag, slice)
      t.same(body, v.p, `${v.name} opens in place, ${slice}-byte slices`)
    }
    t.equal(Buffer.from(gcm(v.key, v.iv, v.a).encrypt(v.p)).toString('hex'), v.c + v.tag, `${v.name} @noble`)
  }
})

// NIST SP 800-38C Appendix C: K = 40..4f; CCM with 4-, 6- and 8-byte tags and 7-, 8-, 12-byte nonces.
const CCM_VECTORS = [
  { name: 'C.1', n: '10111213141516', a: '0001020304050607', p: '20212223', c: '7162015b4dac255d', tlen: 4 },
  { name: 'C.2', n: '1011121314151617', a: '000102030405060708090a0b0c0d0e0f', p: '202122232425262728292a2b2c2d2e2f', c: 'd2a1f0e051ea5f62081a7792073d593d1fc64fbfaccd', tlen: 6 },
  {
    name: 'C.3', n: '101112131415161718191a1b', a: '000102030405060708090a0b0c0d0e0f10111213', p: '202122232425262728292a2b2c2d2e2f3031323334353637',
    c: 'e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951', tlen: 8,
  },
]

t.test('NIST SP 800-38C CCM examples through aeadSeal/aeadOpen', async (t) => {
  const key = hex('404142434445464748494a4b4c4d4e4f')
  for (const v of CCM_VECTORS) {
    const p = hex(v.p)
    const { out: parts, tag } = aeadSeal(CCM128, key, hex(v.n), hex(v.a), cut(p, [1]), undefined, v.tlen)
    const out = Buffer.concat(parts)
    t.equal(Buffer.concat([out, tag]).toString('hex'), v.c, v.name)
    t.same(aeadOpen(CCM128, key, hex(v.n), hex(v.a), out, tag), p, `${v.name} opens`)
    const bad = Buffer.from(tag); bad[0] ^= 1
    t.throws(() => aeadOpen(CCM128, key, hex(v.n), hex(v.a), out, bad), DECRYPT_ERROR, `${v.name} with a bad tag`)
    // The same examples through the in-place composition (AES-CTR + CBC-MAC): 4-, 6-, 8-byte
    // tags, 7-, 8-, 12-byte nonces, AAD of 8 to 20 bytes, slices that split blocks.
    for (const slice of [1, 5, 16, OPEN_SLICE]) {
      const body = Buffer.from(out)
      aeadOpenInPlace(CCM128, key, hex(v.n), hex(v.a), body, tag, slice)
      t.same(body, p, `${v.name} opens in place, ${slice}-byte slices`)
      t.throws(() => { aeadOpenInPlace(CCM128, key, hex(v.n), hex(v.a), Buffer.from(out), bad, slice) }, DECRYPT_ERROR, `${v.name} in place with a bad tag`)
    }
  }
})

// aeadOpenInPlace against aeadOpen (OpenSSL's GCM and CCM in one update) for every cipher, messages
// smaller, equal to and bigger than a slice and not a whole number of blocks or slices, with and
// without AAD; and every flipped byte of a message spanning several slices is refused.
t.test('aeadOpenInPlace opens what aeadSeal sealed, exactly as aeadOpen does, and refuses any tampering', async (t) => {
  const sizes = [0, 1, 15, 16, 17, 100, OPEN_SLICE - 1, OPEN_SLICE, OPEN_SLICE + 1, 3 * OPEN_SLICE + 37, 1 << 20]
  for (const c of CIPHERS) {
    const key = Buffer.alloc(c.keyLen, 0x5c)
    const iv = Buffer.alloc(c.id === GCM128 || c.id === GCM256 ? 12 : 11, 0xa1)
    for (const aad of [Buffer.alloc(32, 0x42), Buffer.alloc(0)]) {
      for (const len of sizes) {
        const m = len >= 4 ? randomMessage(len, len + aad.length) : Buffer.alloc(len, 0xe7)
        const { out, tag } = aeadSeal(c.id, key, iv, aad, cut(m, [Math.min(len, 7)]))
        const ct = Buffer.concat(out)
        const expect = aeadOpen(c.id, key, iv, aad, ct, tag)
        for (const slice of len <= 4096 ? [1, 16, 48, OPEN_SLICE] : [4096 + 5, OPEN_SLICE]) {
          const body = Buffer.from(ct)
          aeadOpenInPlace(c.id, key, iv, aad, body, tag, slice)
          if (!body.equals(expect) || !body.equals(m)) t.fail(`${c.name} ${len} B, AAD ${aad.length}, ${slice}-byte slices`)
        }
      }
      t.pass(`${c.name}, AAD ${aad.length}: ${sizes.length} sizes open in place as aeadOpen opens them`)
    }
    // Tampering: a message of 2.5 slices of 4 KiB; every byte of ciphertext, tag and AAD flipped.
    const aad = Buffer.alloc(32, 7)
    const m = randomMessage(10_000, 9)
    const { out, tag } = aeadSeal(c.id, key, iv, aad, [m])
    const ct = Buffer.concat(out)
    let refused = 0
    const tries = ct.length + tag.length + aad.length
    for (let i = 0; i < tries; i++) {
      const body = Buffer.from(ct)
      const tg = Buffer.from(tag)
      const ad = Buffer.from(aad)
      if (i < ct.length) body[i] ^= 0x80
      else if (i < ct.length + tag.length) tg[i - ct.length] ^= 0x01
      else ad[i - ct.length - tag.length] ^= 0x10
      try { aeadOpenInPlace(c.id, key, iv, ad, body, tg, 4096) } catch (e) { if (e instanceof DecryptError) refused++ }
    }
    t.equal(refused, tries, `${c.name}: each of ${tries} tampered bytes is refused`)
    t.throws(() => { aeadOpenInPlace(c.id, key, iv, aad, Buffer.from(ct.subarray(1)), tag, 4096) }, DECRYPT_ERROR, `${c.name}: a truncated message is refused`)
  }
})

// A chunk in `owned` (a READ payload in a lent buffer) is encrypted over itself: the same
// ciphertext and tag as a fresh seal, for GCM (slices) and CCM (the CTR + CBC-MAC composition),
// with the owned chunk first, last or between others and of sizes around a slice.
t.test('aeadSeal with owned chunks: encrypted over themselves, byte for byte what a fresh seal gives', async (t) => {
  for (const c of CIPHERS) {
    const key = Buffer.alloc(c.keyLen, 0x6d)
    const iv = Buffer.alloc(c.id === GCM128 || c.id === GCM256 ? 12 : 11, 0x3c)
    const aad = Buffer.alloc(32, 0x11)
    let same = 0
    let cases = 0
    for (const len of [1, 17, OPEN_SLICE - 3, OPEN_SLICE, 2 * OPEN_SLICE + 9]) {
      for (const layout of ['alone', 'after', 'between'] as const) {
        const payload = randomMessage(Math.max(len, 4), len).subarray(0, len)
        const head = randomMessage(64 + 17, 5)
        const tail = randomMessage(40, 6)
        const mk = (p: Buffer): Buffer[] => layout === 'alone' ? [p] : layout === 'after' ? [head, p] : [head, p, tail]
        const fresh = aeadSeal(c.id, key, iv, aad, mk(payload))
        const mine = Buffer.from(payload)
        const sealed = aeadSeal(c.id, key, iv, aad, mk(mine), undefined, 16, new Set([mine]), 4096 + 3)
        cases++
        if (sealed.out.includes(mine) && sealed.tag.equals(fresh.tag) && Buffer.concat(sealed.out).equals(Buffer.concat(fresh.out)) &&
          aeadOpen(c.id, key, iv, aad, Buffer.concat(sealed.out), sealed.tag).equals(Buffer.concat(mk(payload)))) same++
        else t.fail(`${c.name} ${len} B ${layout}`)
      }
    }
    t.equal(same, cases, `${c.name}: ${cases} layouts sealed in place as a fresh seal seals them`)
  }
})

t.test('openTransformInPlace: the plaintext over the message itself, a view after the header', async (t) => {
  for (const c of CIPHERS) {
    const key = Buffer.alloc(c.keyLen, 0x21)
    const m = randomMessage(3 * OPEN_SLICE + 100, 4)
    const whole = Buffer.concat(new SessionCipher(c.id, key).encrypt(0x99n, cut(m, [64, 200])))
    const plain = new SessionCipher(c.id, key).decryptInPlace(whole)
    t.same(plain, m, `${c.name}: decrypts`)
    t.equal(plain.buffer, whole.buffer, 'over the same memory')
    t.equal(plain.byteOffset, whole.byteOffset + TRANSFORM_HEADER_SIZE, 'right after the transform header')
    const bad = Buffer.concat(new SessionCipher(c.id, key).encrypt(0x99n, [m]))
    bad[bad.length - 1] ^= 1
    t.throws(() => openTransformInPlace(c.id, key, bad), DECRYPT_ERROR, `${c.name}: tampered`)
    t.throws(() => openTransformInPlace(c.id, key, bad.subarray(0, bad.length - 1)), DECRYPT_ERROR, `${c.name}: OriginalMessageSize mismatch`)
  }
})

const CIPHERS = [
  { id: CCM128, name: 'AES-128-CCM', keyLen: 16 },
  { id: GCM128, name: 'AES-128-GCM', keyLen: 16 },
  { id: CCM256, name: 'AES-256-CCM', keyLen: 32 },
  { id: GCM256, name: 'AES-256-GCM', keyLen: 32 },
]

const randomMessage = (len: number, seed: number): Buffer => {
  const b = Buffer.alloc(len)
  for (let i = 0; i < len; i++) b[i] = (i * 131 + seed * 17 + (i >> 3)) & 0xff
  b.writeUInt32LE(0x424d53fe, 0)
  return b
}

t.test('SessionCipher round trips for every cipher, one and many chunks, 0 B to 1 MiB', async (t) => {
  for (const c of CIPHERS) {
    const key = Buffer.alloc(c.keyLen, 0x33)
    const enc = new SessionCipher(c.id, key)
    const dec = new SessionCipher(c.id, key)
    for (const len of [64, 65, 100, 4096, 65600, 1 << 20]) {
      const m = randomMessage(len, len)
      const chunks = cut(m, [64, Math.min(len, 64 + 48)])
      const out = enc.encrypt(0x1234n, chunks)
      t.equal(out[0].length, TRANSFORM_HEADER_SIZE)
      t.equal(out[0].readUInt32LE(36), len, 'OriginalMessageSize')
      t.equal(out[0].readUInt16LE(42), 1, 'Flags = Encrypted')
      t.equal(out[0].readBigUInt64LE(44), 0x1234n, 'SessionId')
      const nonce = out[0].subarray(20, 36)
      t.ok(nonce.subarray(c.id === GCM128 || c.id === GCM256 ? 12 : 11).equals(Buffer.alloc(c.id === GCM128 || c.id === GCM256 ? 4 : 5)), 'Nonce reserved bytes are zero (MS-SMB2 2.2.41)')
      t.same(dec.decrypt(Buffer.concat(out)), m, `${c.name} ${len} B`)
      if (c.id === GCM128 || c.id === GCM256) {
        // @noble decrypts what node:crypto sealed.
        const whole = Buffer.concat(out)
        const ct = Buffer.concat([whole.subarray(TRANSFORM_HEADER_SIZE), whole.subarray(4, 20)])
        if (len <= 65600) t.same(Buffer.from(gcm(key, whole.subarray(20, 32), whole.subarray(20, 52)).decrypt(ct)), m, `${c.name} ${len} B @noble`)
      }
    }
    t.throws(() => new SessionCipher(c.id, Buffer.alloc(c.keyLen === 16 ? 32 : 16)), RangeError, `${c.name}: wrong key size`)
  }
})

t.test('nonces never repeat across 100k messages of one session', async (t) => {
  for (const c of [CIPHERS[0], CIPHERS[1]]) {
    const enc = new SessionCipher(c.id, Buffer.alloc(c.keyLen, 1))
    const seen = new Set<string>()
    const m = [randomMessage(64, 1)]
    for (let i = 0; i < 100_000; i++) seen.add(enc.encrypt(1n, m)[0].toString('latin1', 20, 36))
    t.equal(seen.size, 100_000, c.name)
  }
  // Two sessions' ciphers (even with one key) do not share a nonce sequence.
  const a = new SessionCipher(GCM128, Buffer.alloc(16, 1))
  const b = new SessionCipher(GCM128, Buffer.alloc(16, 1))
  t.not(a.encrypt(1n, [randomMessage(64, 1)])[0].toString('hex', 20, 36), b.encrypt(1n, [randomMessage(64, 1)])[0].toString('hex', 20, 36), 'random per-cipher nonce tail')
})

t.test('a flipped bit anywhere in header, ciphertext or tag fails with DecryptError', async (t) => {
  for (const c of CIPHERS) {
    const key = Buffer.alloc(c.keyLen, 9)
    const whole = Buffer.concat(new SessionCipher(c.id, key).encrypt(0x77n, [randomMessage(100, 3)]))
    const dec = new SessionCipher(c.id, key)
    let failures = 0
    for (let bit = 0; bit < whole.length * 8; bit++) {
      const m = Buffer.from(whole)
      m[bit >> 3] ^= 1 << (bit & 7)
      try { dec.decrypt(m) } catch (e) { if (e instanceof DecryptError) failures++ }
    }
    t.equal(failures, whole.length * 8, `${c.name}: every one of ${whole.length * 8} flips is refused (ProtocolId, Signature, and the AAD from Nonce to SessionId)`)
    t.same(dec.decrypt(whole), randomMessage(100, 3), 'the untouched message still opens')
    t.throws(() => dec.decrypt(whole.subarray(0, whole.length - 1)), DECRYPT_ERROR, 'truncated')
    t.throws(() => dec.decrypt(whole.subarray(0, 40)), DECRYPT_ERROR, 'short header')
  }
})
