import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runAddUser, type AddUserArgs } from '../../../src/cli/adduser.js'
import type { CliIO } from '../../../src/cli/io.js'
import { hashPassword, readPwdDb } from '../../../src/config/pwddb.js'
import { tempDir } from '../../helpers/tmp.js'

function fakeIO (opts: { tty?: boolean, secrets?: string[], lines?: string[] } = {}): CliIO & { outs: string[], errs: string[], prompts: string[] } {
  const secrets = [...(opts.secrets ?? [])]
  const lines = [...(opts.lines ?? [])]
  const io = {
    outs: [] as string[],
    errs: [] as string[],
    prompts: [] as string[],
    out: (l: string) => { io.outs.push(l) },
    err: (l: string) => { io.errs.push(l) },
    stdinIsTTY: opts.tty ?? false,
    readSecret: async (p: string) => { io.prompts.push(p); return secrets.shift() ?? '' },
    readLine: async () => lines.shift()
  }
  return io
}

function setup (): { dir: string, args: (user: string, mode: AddUserArgs['mode'], password?: string) => AddUserArgs } {
  const dir = tempDir('smbts-adduser-')
  return {
    dir,
    args: (user, mode, password) => {
      const a: AddUserArgs = { user, mode, pwddb: join(dir, 'ksmbdpwd.db'), config: join(dir, 'smb.conf'), pidFile: join(dir, 'smbts.lock') }
      if (password !== undefined) a.password = password
      return a
    }
  }
}

t.test('add, refuse a second add, update, delete', async (t) => {
  const { dir, args } = setup()
  const io = fakeIO()
  await runAddUser(args('alice', 'add', 'Password'), io)
  t.equal(readFileSync(join(dir, 'ksmbdpwd.db'), 'utf8'), 'alice:pPScQGUQvcq2gk7nww/YUg==\n')
  t.same(io.outs, ["User 'alice' added"])
  await t.rejects(runAddUser(args('ALICE', 'add', 'x'), io), { code: 'SMBTS_ERR_CLI', message: /user 'alice' already exists .* \(use -u to update\)/ })
  await t.rejects(runAddUser(args('bob', 'update', 'x'), io), { message: /user 'bob' does not exist .*use -a to add/ })
  await runAddUser(args('Alice', 'update', 'new'), io)
  t.same(readPwdDb(join(dir, 'ksmbdpwd.db')).get('alice'), hashPassword('new'))
  await runAddUser(args('alice', 'delete'), io)
  t.equal(readPwdDb(join(dir, 'ksmbdpwd.db')).size, 0)
  await t.rejects(runAddUser(args('alice', 'delete'), io), { message: /user 'alice' does not exist/ })
})

t.test('user name and password rules', async (t) => {
  const { args } = setup()
  await t.rejects(runAddUser(args('a:b', 'add', 'x'), fakeIO()), { message: "user name 'a:b' contains ':'" })
  await t.rejects(runAddUser(args('x'.repeat(48), 'add', 'x'), fakeIO()), { message: /longer than 47 bytes/ })
  await t.rejects(runAddUser(args('carol', 'add', 'p'.repeat(129)), fakeIO()), { message: /password is longer than 128 bytes/ })
})

t.test('password from the terminal (twice) or from one line of standard input', async (t) => {
  const { dir, args } = setup()
  const tty = fakeIO({ tty: true, secrets: ['s3cret', 's3cret'] })
  await runAddUser(args('alice', 'add'), tty)
  t.same(tty.prompts, ['New password: ', 'Retype new password: '])
  t.same(readPwdDb(join(dir, 'ksmbdpwd.db')).get('alice'), hashPassword('s3cret'))
  await t.rejects(runAddUser(args('bob', 'add'), fakeIO({ tty: true, secrets: ['a', 'b'] })), { message: 'passwords do not match' })
  await runAddUser(args('bob', 'add'), fakeIO({ lines: ['from pipe'] }))
  t.same(readPwdDb(join(dir, 'ksmbdpwd.db')).get('bob'), hashPassword('from pipe'))
  await t.rejects(runAddUser(args('carol', 'add'), fakeIO({ lines: [] })), { message: /no password given/ })
  t.notOk(readPwdDb(join(dir, 'ksmbdpwd.db')).has('carol'))
})

t.test('deleting a user the configuration depends on is refused', async (t) => {
  const { dir, args } = setup()
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'nobody']) await runAddUser(args(u, 'add', 'pw'), fakeIO())
  writeFileSync(join(dir, 'smb.conf'), [
    '[a]', 'path = /a', 'valid users = alice, @staff',
    '[b]', 'path = /b', 'write list = Bob',
    '[c]', 'path = /c', 'admin users = carol',
    '[d]', 'path = /d', 'force user = dave',
    '[e]', 'path = /e', 'read list = erin', ''
  ].join('\n'))
  const cases: Array<[string, RegExp]> = [
    ['alice', /^share 'a' requires user 'alice' \(valid users\); not deleted$/],
    ['bob', /share 'b' requires user 'bob' \(write list\)/],
    ['carol', /share 'c' requires user 'carol' \(admin users\)/],
    ['dave', /share 'd' requires user 'dave' \(force user\)/],
    ['erin', /share 'e' requires user 'erin' \(read list\)/],
    ['nobody', /user 'nobody' is the guest account/]
  ]
  for (const [u, re] of cases) await t.rejects(runAddUser(args(u, 'delete'), fakeIO()), { message: re }, u)
  await runAddUser(args('frank', 'delete'), fakeIO())
  t.same([...readPwdDb(join(dir, 'ksmbdpwd.db')).keys()], ['alice', 'bob', 'carol', 'dave', 'erin', 'nobody'])
  // a broken configuration is reported, not ignored
  writeFileSync(join(dir, 'smb.conf'), '[global]\ntcp port = x\n')
  await t.rejects(runAddUser(args('erin', 'delete'), fakeIO()), { code: 'SMBTS_ERR_CONFIG', message: /smb\.conf:2: invalid number 'x'/ })
})
