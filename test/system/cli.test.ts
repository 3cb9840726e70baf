// The built program end to end, spawned (bin/smbts runs dist/cli/main.js). The logic is tested
// directly in test/unit/cli; this checks the wiring: options, exit status, one-line errors.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(root, 'bin/smbts')
const built = existsSync(join(root, 'dist/cli/main.js'))
const skip = built ? false : 'dist/cli/main.js is not built (npm run build); the CLI logic is tested directly elsewhere'

function smbts (args: string[], input?: string): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(bin, args, { input: input ?? '', encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('bin/smbts', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'smbts-bin-'))
  const db = join(dir, 'ksmbdpwd.db')
  const conf = join(dir, 'smb.conf')
  const lock = ['--pid-file', join(dir, 'smbts.lock')]

  t.test('--help on every command', async (t) => {
    for (const cmd of [[], ['start'], ['adduser'], ['addshare'], ['control']]) {
      const r = smbts([...cmd, '--help'])
      t.equal(r.status, 0, cmd.join(' '))
      t.match(r.stdout, new RegExp(`^Usage: smbts ${cmd.join(' ')}`), cmd.join(' '))
    }
  })

  t.test('adduser: add, refuse again, update from standard input', async (t) => {
    let r = smbts(['adduser', '-P', db, '-C', conf, ...lock, '-p', 'Password', 'alice'])
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout, "User 'alice' added\n")
    t.equal(readFileSync(db, 'utf8'), 'alice:pPScQGUQvcq2gk7nww/YUg==\n')
    r = smbts(['adduser', '-P', db, ...lock, '-p', 'x', 'alice'])
    t.equal(r.status, 1)
    t.equal(r.stderr, `smbts: user 'alice' already exists in ${db} (use -u to update)\n`)
    r = smbts(['adduser', '-u', '-P', db, ...lock, 'alice'], 'piped\n')
    t.equal(r.status, 0, r.stderr)
    t.not(readFileSync(db, 'utf8'), 'alice:pPScQGUQvcq2gk7nww/YUg==\n')
  })

  t.test('addshare and control -l', async (t) => {
    let r = smbts(['addshare', '-C', conf, ...lock, '-o', 'path = /srv/data', '-o', 'comment = Data', 'Data'])
    t.equal(r.status, 0, r.stderr)
    r = smbts(['control', '-l', '-C', conf])
    t.equal(r.stdout, 'Data  /srv/data  Data\n')
    r = smbts(['addshare', '-C', conf, ...lock, '-u', '-o', 'oplocks = sometimes', 'Data'])
    t.equal(r.status, 1)
    t.equal(r.stderr, "smbts: invalid boolean 'sometimes' for 'oplocks' (expected yes or no)\n")
  })

  t.test('errors are one line on stderr with a non-zero status', async (t) => {
    for (const args of [['frob'], ['adduser', '--frob', 'x'], ['control'], ['control', '-s', ...lock], ['adduser', '-a', '-d', 'x'], ['start', '-p', '0']]) {
      const r = smbts(args)
      t.equal(r.status, 1, args.join(' '))
      t.match(r.stderr, /^smbts: [^\n]+\n$/, args.join(' '))
    }
  })

  t.test('start as a daemon reports a child that cannot start', { skip: existsSync(join(root, 'dist/server.js')) && 'the server exists: a real start is the protocol/interop tests\' job' }, async (t) => {
    writeFileSync(conf, '[global]\ntcp port = 4455\n')
    const r = smbts(['start', '-C', conf, '-P', db, ...lock, '--log-file', join(dir, 'log'), '--control-dir', join(dir, 'run')])
    t.equal(r.status, 1)
    t.match(r.stderr, /^smbts: the server failed to start: the server is not built .*\(see .*log\)\n$/)
    t.notOk(existsSync(join(dir, 'smbts.lock')))
  })
})
