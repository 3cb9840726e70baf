import t from 'tap'
import {
  filetimeFromUnixNs, unixNsFromFiletime, filetimeFromUnixMs, filetimeNow, classifySetFiletime,
  FILETIME_UNIX_EPOCH, isFiletimeNoChange, isFiletimeStopUpdating, isFiletimeResumeUpdating
} from '../../../src/wire/filetime.js'

t.test('epoch conversions', async t => {
  t.equal(filetimeFromUnixNs(0n), 116444736000000000n)
  t.equal(unixNsFromFiletime(FILETIME_UNIX_EPOCH), 0n)
  // 2000-01-01T00:00:00Z = 946684800 s → 125911584000000000
  t.equal(filetimeFromUnixNs(946684800n * 1000000000n), 125911584000000000n)
  t.equal(filetimeFromUnixMs(946684800000), 125911584000000000n)
  t.equal(filetimeFromUnixNs(123n), FILETIME_UNIX_EPOCH + 1n, 'truncates to 100 ns')
  t.equal(filetimeFromUnixNs(-1n), FILETIME_UNIX_EPOCH - 1n, 'floors before 1970')
  t.equal(filetimeFromUnixNs(-FILETIME_UNIX_EPOCH * 100n - 1000n), 0n, 'clamps before 1601')
  for (const ns of [0n, 1234567800n, -98765400n, 1700000000000000000n]) {
    t.equal(unixNsFromFiletime(filetimeFromUnixNs(ns)), ns)
  }
  const now = filetimeNow()
  t.ok(now > 133000000000000000n && now < 200000000000000000n)
})

t.test('SET_INFO special values', async t => {
  t.equal(classifySetFiletime(0n), 'unchanged')
  t.equal(classifySetFiletime(-1n), 'stop')
  t.equal(classifySetFiletime(0xFFFFFFFFFFFFFFFFn), 'stop')
  t.equal(classifySetFiletime(-2n), 'resume')
  t.equal(classifySetFiletime(0xFFFFFFFFFFFFFFFEn), 'resume')
  t.equal(classifySetFiletime(-3n), 'invalid')
  t.equal(classifySetFiletime(1n), 'set')
  t.ok(isFiletimeNoChange(0n))
  t.ok(isFiletimeStopUpdating(-1n))
  t.ok(isFiletimeResumeUpdating(-2n))
  t.notOk(isFiletimeStopUpdating(5n))
})
