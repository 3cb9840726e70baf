// FrameReader (MS-SMB2 2.1 Direct TCP): every valid frame sequence, fed whole, split at every
// offset, split at every pair of offsets and byte by byte, yields the same frames; frames over the
// limit, a non-zero first byte and an empty frame are rejected.
import t from 'tap'
import { FrameReader, frameHeader } from '../../../src/transport/framing.js'
import { ProtocolError } from '../../../src/wire/errors.js'

const frame = (payload: Buffer): Buffer => Buffer.concat([frameHeader(payload.length), payload])
const pattern = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))

/** Feeds `chunks` to a fresh reader; returns the frames as copies, and whether each frame was a view. */
function feed (chunks: Buffer[], max = 1 << 20): { frames: Buffer[], views: boolean[] } {
  const r = new FrameReader(() => max)
  const frames: Buffer[] = []
  const views: boolean[] = []
  for (const c of chunks) {
    r.push(c, (f) => {
      views.push(f.buffer === c.buffer)
      frames.push(Buffer.from(f)) // the reader may hand out views of the chunk
    })
  }
  return { frames, views }
}

const SEQUENCES: Buffer[][] = [
  [pattern(1, 1)],
  [pattern(64, 2)],
  [pattern(5, 3), pattern(1, 4), pattern(70, 5)],
  [pattern(3, 6), pattern(3, 7)],
  [pattern(300, 8), pattern(4, 9)],
]

t.test('a range of a larger buffer (push with start/end) reads only that range, split anywhere', async (t) => {
  for (const seq of SEQUENCES) {
    const wire = Buffer.concat(seq.map(frame))
    // Junk that is no valid frame header on both sides: reading outside the range would throw.
    const arena = Buffer.concat([Buffer.alloc(7, 0xff), wire, Buffer.alloc(5, 0xee)])
    for (let cut = 0; cut <= wire.length; cut++) {
      const r = new FrameReader(() => 1 << 20)
      const frames: Buffer[] = []
      const views: boolean[] = []
      const onFrame = (f: Buffer): void => { views.push(f.buffer === arena.buffer); frames.push(Buffer.from(f)) }
      r.push(arena, onFrame, 7, 7 + cut)
      r.push(arena, onFrame, 7 + cut, 7 + wire.length)
      t.same(frames, seq, `cut at ${cut}`)
      if (cut === 0 || cut === wire.length) t.ok(views.every(Boolean), 'whole frames are views of the arena')
    }
  }
})

t.test('whole: frames inside one chunk are views of it, in order', async (t) => {
  for (const seq of SEQUENCES) {
    const wire = Buffer.concat(seq.map(frame))
    const { frames, views } = feed([wire])
    t.same(frames, seq)
    t.ok(views.every(Boolean), 'no copies for whole frames')
  }
})

t.test('split at every offset (two chunks)', async (t) => {
  for (const seq of SEQUENCES) {
    const wire = Buffer.concat(seq.map(frame))
    let ok = true
    for (let i = 0; i <= wire.length; i++) {
      const { frames } = feed([wire.subarray(0, i), wire.subarray(i)])
      if (frames.length !== seq.length || !frames.every((f, k) => f.equals(seq[k]))) { ok = false; t.fail(`split at ${i}`) }
    }
    t.ok(ok, `${seq.length} frame(s), ${wire.length} bytes: every split`)
  }
})

t.test('split at every pair of offsets (three chunks)', async (t) => {
  for (const seq of SEQUENCES.filter(s => s.reduce((n, b) => n + b.length + 4, 0) < 120)) {
    const wire = Buffer.concat(seq.map(frame))
    let ok = true
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const { frames } = feed([wire.subarray(0, i), wire.subarray(i, j), wire.subarray(j)])
        if (frames.length !== seq.length || !frames.every((f, k) => f.equals(seq[k]))) { ok = false; t.fail(`split at ${i}, ${j}`) }
      }
    }
    t.ok(ok, `${wire.length} bytes: every pair of splits`)
  }
})

t.test('byte by byte', async (t) => {
  for (const seq of SEQUENCES) {
    const wire = Buffer.concat(seq.map(frame))
    const chunks = Array.from(wire, (b) => Buffer.from([b]))
    t.same(feed(chunks).frames, seq)
  }
})

t.test('empty chunks are harmless', async (t) => {
  const seq = SEQUENCES[2]
  const wire = Buffer.concat(seq.map(frame))
  t.same(feed([Buffer.alloc(0), wire.subarray(0, 2), Buffer.alloc(0), wire.subarray(2), Buffer.alloc(0)]).frames, seq)
})

t.test('frames over the limit are rejected; at the limit accepted', async (t) => {
  t.same(feed([frame(pattern(100, 1))], 100).frames, [pattern(100, 1)], 'exactly the limit')
  t.throws(() => feed([frame(pattern(101, 1))], 100), ProtocolError, 'one byte over')
  // rejected from the header alone, before the payload arrives (no allocation sized by the client)
  const r = new FrameReader(() => 1000)
  t.throws(() => { r.push(Buffer.from([0, 0xff, 0xff, 0xff]), () => {}) }, ProtocolError, '16 MiB announced')
  const r2 = new FrameReader(() => 1000)
  r2.push(Buffer.from([0, 0x00]), () => {})
  t.throws(() => { r2.push(Buffer.from([0x10, 0x00]), () => {}) }, ProtocolError, 'over the limit with the header split')
  // the limit is asked per frame
  let max = 10
  const r3 = new FrameReader(() => max)
  const got: number[] = []
  r3.push(frame(pattern(10, 1)), (f) => got.push(f.length))
  max = 50
  r3.push(frame(pattern(50, 1)), (f) => got.push(f.length))
  t.same(got, [10, 50], 'a limit that grows applies to the next frame')
  // a frame after valid ones is still checked
  t.throws(() => feed([Buffer.concat([frame(pattern(5, 1)), frame(pattern(200, 1))])], 100), ProtocolError)
})

t.test('a non-zero first byte is rejected; so is an empty frame', async (t) => {
  for (const b of [0x01, 0x81, 0x85, 0xff]) {
    const f = frame(pattern(8, 1))
    f[0] = b
    t.throws(() => feed([f]), ProtocolError, `first byte 0x${b.toString(16)}`)
    t.throws(() => feed(Array.from(f, (x) => Buffer.from([x]))), ProtocolError, `first byte 0x${b.toString(16)}, byte by byte`)
  }
  // after a good frame, in the same chunk
  const bad = frame(pattern(4, 1)); bad[0] = 2
  const got: Buffer[] = []
  const r = new FrameReader(() => 1000)
  t.throws(() => { r.push(Buffer.concat([frame(pattern(3, 1)), bad]), (f) => got.push(Buffer.from(f))) }, ProtocolError)
  t.same(got, [pattern(3, 1)], 'the good frame before it was delivered')
  t.throws(() => feed([Buffer.from([0, 0, 0, 0])]), ProtocolError, 'zero-length frame')
})

t.test('frameHeader', async (t) => {
  t.same(frameHeader(0x123456), Buffer.from([0, 0x12, 0x34, 0x56]))
  t.throws(() => frameHeader(0x1000000), RangeError)
})

t.test('a frame split across chunks is reassembled in the lent buffer, and its loan goes with it', async (t) => {
  const { BufferPool } = await import('../../../src/io/buffer-pool.js')
  const pool = new BufferPool({ minPooled: 16 })
  const r = new FrameReader(() => 1 << 20, (len) => pool.take(len))
  const body = Buffer.alloc(100, 7)
  const wire = Buffer.concat([frameHeader(body.length), body, frameHeader(3), Buffer.from('abc')])
  const got: Array<{ frame: Buffer, loaned: boolean }> = []
  r.push(wire.subarray(0, 50), (frame, loan) => { got.push({ frame: Buffer.from(frame), loaned: loan !== undefined }); loan?.release() })
  r.push(wire.subarray(50), (frame, loan) => { got.push({ frame: Buffer.from(frame), loaned: loan !== undefined }); loan?.release() })
  t.same(got.map(g => g.frame), [body, Buffer.from('abc')], 'both frames whole')
  t.same(got.map(g => g.loaned), [true, false], 'the reassembled one was lent; the one inside a chunk is a view')
  t.equal(pool.allocated, 1)
  r.push(wire.subarray(0, 10), () => {})
  t.equal(pool.reused, 1, 'the next split frame reuses the released buffer')
})

t.test('takeRest gives back the raw bytes of a frame begun, split anywhere, and leaves the reader between frames', async (t) => {
  const wire = Buffer.concat([frame(pattern(5, 1)), frame(pattern(40, 2))])
  const first = frame(pattern(5, 1)).length
  for (let cut = first; cut <= wire.length; cut++) {
    const r = new FrameReader(() => 1 << 20)
    const frames: Buffer[] = []
    r.push(wire.subarray(0, cut), (f) => { frames.push(Buffer.from(f)) })
    const rest = r.takeRest()
    const whole = cut === wire.length
    t.equal(frames.length, whole ? 2 : 1, `cut ${cut}: whole frames handed out`)
    t.same(rest ?? Buffer.alloc(0), whole ? Buffer.alloc(0) : wire.subarray(first, cut), `cut ${cut}: the rest as received`)
    t.notOk(r.midFrame, `cut ${cut}: between frames`)
    // What was taken, fed again with the remainder, reads the frame as before.
    const again: Buffer[] = []
    r.push(Buffer.concat([rest ?? Buffer.alloc(0), wire.subarray(cut)]), (f) => { again.push(Buffer.from(f)) })
    if (!whole) t.same(again, [pattern(40, 2)], `cut ${cut}: replayed`)
  }
})
