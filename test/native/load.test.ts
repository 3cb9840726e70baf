// src/io/native.ts: importing never throws; a missing addon is reported, not fatal.
import t from 'tap'
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { native, nativeAvailable, nativeLoadError, tempDir } from './fixtures/native.js'

t.test('the built addon loads', async (t) => {
  t.equal(nativeAvailable, true)
  t.equal(nativeLoadError, undefined)
  t.type(native.counters().ops.openat2, 'number')
})

t.test('mallocTrimNow: malloc_trim(0) on the calling thread, a boolean back', async (t) => {
  // What it gives back is measured where it matters (src/io/idle-gc.ts, bench "memory idle"):
  // RSS depends on what else the process freed.
  t.type(native.mallocTrimNow(), 'boolean')
  t.type(native.mallocTrimNow(), 'boolean', 'again: nothing left to give is no error')
})

t.test('a missing addon: nativeAvailable false, use throws SMBTS_ERR_NATIVE_UNAVAILABLE', async (t) => {
  // The same module two levels below a directory with no native/build.
  const dir = await tempDir(t)
  await mkdir(join(dir, 'src/io'), { recursive: true })
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n')
  const copy = join(dir, 'src/io/native.ts')
  await copyFile(new URL('../../src/io/native.ts', import.meta.url), copy)
  const face = (await import(pathToFileURL(copy).href)) as typeof import('../../src/io/native.js')
  t.equal(face.nativeAvailable, false)
  t.ok(face.nativeLoadError instanceof Error, 'load error kept')
  t.match(face.nativeLoadError?.message, /smbts\.node/)
  t.throws(() => face.native.openat2, { code: 'SMBTS_ERR_NATIVE_UNAVAILABLE' })
  t.throws(() => face.native.constants, { code: 'SMBTS_ERR_NATIVE_UNAVAILABLE' })
  // Not mistaken for a thenable by `await`.
  t.equal(await Promise.resolve(face.native).then(() => 'settled'), 'settled')
})
