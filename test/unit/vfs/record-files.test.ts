// src/vfs/record-files.ts: the files behind persistent handles' records. A record's file is
// rewritten in place (padded to its old length), freed and reused without a directory update, a
// text over a page replaced through a rename, and a restart (a new RecordFiles on the directory)
// finds what each worker slot left: its own texts and free files, others' not read.
import t from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RecordFiles } from '../../../src/vfs/record-files.js'

t.test('put, rewrite, remove, reuse; big texts; what a restart finds', async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), 'smbts-records-')), 'r')
  t.teardown(() => { rmSync(join(dir, '..'), { recursive: true, force: true }) })
  const f = new RecordFiles(dir, 0)
  t.equal(statSync(dir).mode & 0o777, 0o700, 'the directory is the owner\'s only')
  f.put('a', '{"x":"a long first text"}')
  const [name] = readdirSync(dir)
  t.equal(name, 'w0-1.rec')
  t.equal(statSync(join(dir, name!)).mode & 0o777, 0o600)
  f.put('a', '{"x":1}')
  t.equal(readFileSync(join(dir, name!), 'utf8').trimEnd(), '{"x":1}', 'rewritten in place, padded with spaces')
  t.equal(readFileSync(join(dir, name!), 'utf8').length, '{"x":"a long first text"}'.length)
  f.remove('a')
  t.ok(RecordFiles.isFree(readFileSync(join(dir, name!), 'utf8')), 'removed: the file is marked free')
  f.put('b', '{"x":2}')
  t.same(readdirSync(dir), [name], 'the next record takes the free file')
  const big = JSON.stringify({ x: 'y'.repeat(5000) })
  f.put('b', big)
  t.equal(readFileSync(join(dir, name!), 'utf8'), big, 'a text over a page: replaced whole')
  f.put('b', '{"x":3}')
  t.equal(readFileSync(join(dir, name!), 'utf8').trimEnd(), '{"x":3}')
  f.put('c', '{"x":4}')
  writeFileSync(join(dir, 'w1-1.rec'), '{"x":"worker 1"}')
  writeFileSync(join(dir, 'w2-1.rec'), '{"x":"worker 2, gone"}')
  writeFileSync(join(dir, 'w0-9.rec.999999999.1.tmp'), 'half')
  f.freeze()
  f.put('c', '{"x":"after the freeze"}')
  f.remove('b')
  t.equal(readFileSync(join(dir, name!), 'utf8').trimEnd(), '{"x":3}', 'frozen: nothing written or removed')

  // A restart of worker 0 of 2: its own files and slot 2's (a worker no longer there), not slot 1's.
  const again = new RecordFiles(dir, 0)
  const found = again.scan(2)
  t.same(found.map(r => [r.name, r.mine, r.text.trimEnd()]), [['w0-1.rec', true, '{"x":3}'], ['w0-2.rec', true, '{"x":4}'], ['w2-1.rec', false, '{"x":"worker 2, gone"}']])
  t.notOk(readdirSync(dir).some(n => n.endsWith('.tmp')), 'a temporary file of a dead writer is removed')
  again.adopt('w0-1.rec', 'b')
  again.remove('b')
  again.put('d', '{"x":5}')
  t.equal(readFileSync(join(dir, 'w0-1.rec'), 'utf8').trimEnd(), '{"x":5}', 'an adopted file freed and reused')
  again.drop('w2-1.rec')
  t.ok(RecordFiles.isFree(readFileSync(join(dir, 'w2-1.rec'), 'utf8')), 'a dropped file is marked free')
  again.discard('w0-2.rec')
  t.notOk(readdirSync(dir).includes('w0-2.rec'), 'a discarded file is gone')
})
