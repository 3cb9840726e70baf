import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseShareOption, runAddShare, type AddShareArgs } from '../../../src/cli/addshare.js'
import type { CliIO } from '../../../src/cli/io.js'
import { loadConfig } from '../../../src/config/config.js'
import { tempDir } from '../../helpers/tmp.js'

const io = (): CliIO & { outs: string[] } => {
  const outs: string[] = []
  return { outs, out: (l) => { outs.push(l) }, err: () => {}, stdinIsTTY: false, readSecret: async () => '', readLine: async () => undefined }
}

function setup (initial?: string): { file: string, run: (share: string, mode: AddShareArgs['mode'], ...options: string[]) => void } {
  const dir = tempDir('smbts-addshare-')
  const file = join(dir, 'smb.conf')
  if (initial !== undefined) writeFileSync(file, initial)
  return { file, run: (share, mode, ...options) => { runAddShare({ share, mode, config: file, options, pidFile: join(dir, 'lock') }, io()) } }
}

t.test('options are checked against the parameter table', async (t) => {
  t.same(parseShareOption('path = /srv/x'), ['path', '/srv/x'])
  t.same(parseShareOption('Read Only=no'), ['Read Only', 'no'])
  t.throws(() => parseShareOption('path'), { code: 'SMBTS_ERR_CLI', message: "option 'path' is not of the form 'key = value'" })
  t.throws(() => parseShareOption('frobnicate = 1'), { message: "unknown share parameter 'frobnicate'" })
  t.throws(() => parseShareOption('workgroup = X'), { message: "'workgroup' is a global parameter; addshare sets share parameters only" })
  t.throws(() => parseShareOption('guest ok = perhaps'), { message: /invalid boolean 'perhaps' for 'guest ok'/ })
  t.throws(() => parseShareOption('create mask = 999'), { message: /invalid mode '999'/ })
})

t.test('add creates the file, then refuses a second add', async (t) => {
  const { file, run } = setup()
  run('Data', 'add', 'path = /srv/data', 'comment = Team data', 'writeable = yes')
  t.equal(readFileSync(file, 'utf8'), '[Data]\n\tpath = /srv/data\n\tcomment = Team data\n\twriteable = yes\n')
  const s = loadConfig(file).shares.get('data')!
  t.equal(s.readOnly, false)
  t.throws(() => run('data', 'add', 'path = /x'), { message: /share 'data' already exists .*use -u to update/ })
  t.throws(() => run('other', 'add', 'comment = x'), { message: /a new share needs a path/ })
})

t.test('share name rules', async (t) => {
  const { run } = setup()
  t.throws(() => run('a]b', 'add', 'path = /x'), { message: "share name 'a]b' contains ']'" })
  t.throws(() => run('x'.repeat(64), 'add', 'path = /x'), { message: /longer than 63 bytes/ })
  t.throws(() => run('global', 'add', 'path = /x'), { message: /global section/ })
  t.throws(() => run('IPC$', 'add', 'path = /x'), { message: /IPC\$/ })
  t.throws(() => run('homes', 'add', 'path = /x'), { message: /special section/ })
})

t.test('update and delete keep the rest of the file', async (t) => {
  const initial = '# main config\n[global]\n  workgroup = HOME\n\n[a]\n  path = /a\n  ; note\n  read only = yes\n\n# b follows\n[b]\n  path = /b\n'
  const { file, run } = setup(initial)
  run('A', 'update', 'writable = yes', 'comment = first')
  t.equal(readFileSync(file, 'utf8'), '# main config\n[global]\n  workgroup = HOME\n\n[a]\n  path = /a\n  ; note\n  writable = yes\n  comment = first\n\n# b follows\n[b]\n  path = /b\n')
  t.throws(() => run('zzz', 'update', 'comment = x'), { message: /share 'zzz' does not exist/ })
  t.throws(() => run('a', 'update'), { message: /nothing to update/ })
  // a change that the server would refuse is not written
  const before = readFileSync(file, 'utf8')
  t.throws(() => run('a', 'update', 'path = relative'), { message: /would make the configuration invalid: .*smb\.conf:6: path 'relative' of share \[a\] must be absolute/ })
  t.equal(readFileSync(file, 'utf8'), before)
  run('a', 'delete')
  t.equal(readFileSync(file, 'utf8'), '# main config\n[global]\n  workgroup = HOME\n\n# b follows\n[b]\n  path = /b\n')
  t.throws(() => run('a', 'delete'), { message: /share 'a' does not exist/ })
  t.throws(() => run('b', 'delete', 'path = /x'), { message: /-o cannot be given with -d/ })
})

t.test('a share from an included file is not edited here', async (t) => {
  const { file, run } = setup()
  writeFileSync(file + '.inc', '[inc]\npath = /inc\n')
  writeFileSync(file, `include = ${file}.inc\n`)
  t.throws(() => run('inc', 'delete'), { message: /defined in a file included by .*; edit it there/ })
})

t.test('update/delete need an existing file', async (t) => {
  const { run } = setup()
  t.throws(() => run('a', 'update', 'comment = x'), { message: /smb\.conf: no such file/ })
})
