import t from 'tap'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { findUser, hashPassword, parsePwdDb, readPwdDb, userNameProblem, writePwdDb } from '../../../src/config/pwddb.js'
import { tempDir } from '../../helpers/tmp.js'

const tmp = (): string => tempDir('smbts-pwddb-')

t.test('NT hash is MD4(UTF-16LE(password))', async (t) => {
  // MS-NLMP 4.2.2.1.2: NTOWFv1("Password")
  t.equal(hashPassword('Password').toString('hex'), 'a4f49c406510bdcab6824ee7c30fd852')
  t.equal(hashPassword('').toString('hex'), '31d6cfe0d16ae931b73c59d7e0c089c0')
})

t.test('round trip and exact format', async (t) => {
  const dir = tmp()
  const file = join(dir, 'sub', 'ksmbdpwd.db')
  const db = new Map([['alice', hashPassword('Password')], ['Bob', hashPassword('secret')]])
  writePwdDb(file, db)
  t.equal(readFileSync(file, 'utf8'), 'alice:pPScQGUQvcq2gk7nww/YUg==\nBob:' + hashPassword('secret').toString('base64') + '\n')
  t.equal(statSync(file).mode & 0o777, 0o600)
  const back = readPwdDb(file)
  t.same([...back.keys()], ['alice', 'Bob'])
  t.same(back.get('alice'), db.get('alice'))
  // no temporary file left behind
  t.same(readdirSync(join(dir, 'sub')), ['ksmbdpwd.db'])
  // rewrite replaces
  db.delete('alice')
  writePwdDb(file, db)
  t.same([...readPwdDb(file).keys()], ['Bob'])
})

t.test('missing file is an empty database; bad lines are errors with file:line', async (t) => {
  const dir = tmp()
  t.equal(readPwdDb(join(dir, 'none')).size, 0)
  const f = join(dir, 'bad.db')
  writeFileSync(f, 'ok:' + hashPassword('x').toString('base64') + '\n\nbroken\n')
  t.throws(() => readPwdDb(f), { code: 'SMBTS_ERR_CONFIG', message: `${f}:3: expected 'user:hash'` })
  t.throws(() => parsePwdDb('u:AAAA\n', 'db'), { message: "db:1: the password hash of 'u' is not a base64 NT hash" })
  t.throws(() => parsePwdDb('u:' + hashPassword('a').toString('base64') + '\nU:' + hashPassword('b').toString('base64') + '\n', 'db'), { message: "db:2: user 'U' appears twice" })
})

t.test('user name rules', async (t) => {
  t.equal(userNameProblem('alice'), undefined)
  t.equal(userNameProblem('x'.repeat(47)), undefined)
  t.match(userNameProblem('x'.repeat(48)), /longer than 47 bytes/)
  t.match(userNameProblem(''), /empty/)
  t.match(userNameProblem('a:b'), /contains ':'/)
  t.match(userNameProblem('a\nb'), /control/)
  t.throws(() => writePwdDb(join(tmp(), 'db'), new Map([['a:b', hashPassword('x')]])), { message: /contains ':'/ })
})

t.test('findUser is case-insensitive', async (t) => {
  const db = new Map([['Alice', hashPassword('x')]])
  t.equal(findUser(db, 'alice'), 'Alice')
  t.equal(findUser(db, 'ALICE'), 'Alice')
  t.equal(findUser(db, 'bob'), undefined)
})
