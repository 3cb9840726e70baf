// Micro-benchmark: decrypting one WRITE-sized transform body with node:crypto, into a fresh
// buffer (aeadOpen: one update() of the whole message) against over its own bytes in slices
// (aeadOpenInPlace), for AES-128-GCM and AES-128-CCM. CPU time per GiB (process.cpuUsage, so
// other load on the machine counts less than in wall-clock figures).
//   npm run build, then: node bench/aead-open.ts [MiB per message, default 8] [GiB per case, default 1]
import { randomBytes } from 'node:crypto'
import { aeadOpen, aeadOpenInPlace, aeadSeal } from '#dist/crypto/encryption.js'

const MiB = 1024 * 1024
const size = Number(process.argv[2] ?? 8) * MiB
const gib = Number(process.argv[3] ?? 1)
const rounds = Math.max(1, Math.round(gib * 1024 * MiB / size))

for (const cipher of [2, 1]) {
  const name = cipher === 2 ? 'AES-128-GCM' : 'AES-128-CCM'
  const key = randomBytes(16)
  const iv = randomBytes(cipher === 2 ? 12 : 11)
  const aad = randomBytes(32)
  const plain = randomBytes(size)
  const { out, tag } = aeadSeal(cipher, key, iv, aad, [plain])
  const ct = Buffer.concat(out)
  const work = Buffer.allocUnsafeSlow(size)
  const cases: Array<[string, () => void]> = [
    ['fresh (aeadOpen)', () => { aeadOpen(cipher, key, iv, aad, ct, tag) }],
    ...[16, 64, 128, 256].map((k): [string, () => void] => [`in place, ${k} KiB slices`, () => { ct.copy(work); aeadOpenInPlace(cipher, key, iv, aad, work.subarray(0, size), tag, k * 1024) }]),
    ['(the copy in-place cases include)', () => { ct.copy(work) }],
  ]
  for (const [label, fn] of cases) {
    fn()
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < rounds; i++) fn()
    const c = process.cpuUsage(c0)
    const secs = Number(process.hrtime.bigint() - t0) / 1e9
    const g = rounds * size / 1024 / MiB
    console.log(`${name} ${label}: ${((c.user + c.system) / 1e6 / g).toFixed(3)} CPU s/GiB, ${(g * 1024 / secs).toFixed(0)} MiB/s`)
  }
  ct.copy(work); aeadOpenInPlace(cipher, key, iv, aad, work.subarray(0, size), tag)
  if (!work.subarray(0, size).equals(plain)) throw new Error(`${name}: in place differs`)
}
