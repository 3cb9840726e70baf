import t from 'tap'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defaultConfig, loadConfig, parseConfigText, shareNameProblem } from '../../../src/config/config.js'
import { tempDir } from '../../helpers/tmp.js'

const fixtures = fileURLToPath(new URL('../../fixtures/config/', import.meta.url))

t.test('defaults', async (t) => {
  const c = defaultConfig()
  const g = c.global
  t.equal(g.netbiosName, 'SMBTS')
  t.equal(g.workgroup, 'WORKGROUP')
  t.equal(g.guestAccount, 'nobody')
  t.equal(g.mapToGuest, 'never')
  t.equal(g.tcpPort, 445)
  t.equal(g.minProtocol, 0x0202)
  t.equal(g.maxProtocol, 0x0311)
  t.equal(g.serverSigning, 'auto')
  t.equal(g.smb3Encryption, 'auto')
  t.equal(g.maxCredits, 8192)
  t.equal(g.maxRead, 8 * 1024 * 1024)
  t.equal(g.maxWrite, 8 * 1024 * 1024)
  t.equal(g.maxTrans, 1024 * 1024)
  t.equal(g.maxConnections, 128)
  t.equal(g.deadtime, 0)
  t.equal(g.maxOpenFiles, 10000)
  t.equal(g.busyPoll, 100, 'busy poll: 100 µs by default')
  t.same(g.interfaces, [])
  t.equal(g.bindInterfacesOnly, false)
  t.equal(c.shares.size, 0)
  t.same(c.warnings, [])
  t.equal(c.file, undefined)
})

t.test('share defaults and key spelling (case, whitespace, aliases)', async (t) => {
  const c = parseConfigText('[Data]\nPATH=/srv/data\nReadOnly = no\nguest_ok = yes\n', 'x.conf')
  const s = c.shares.get('data')!
  t.equal(s.name, 'Data')
  t.equal(s.path, '/srv/data')
  t.equal(s.readOnly, false)
  t.equal(s.browseable, true)
  t.equal(s.available, true)
  t.equal(s.oplocks, true)
  t.equal(s.followSymlinks, false)
  t.equal(s.hideDotFiles, true, 'hide dot files: yes by default (Samba, ksmbd)')
  t.equal(s.storeDosAttributes, true, 'store dos attributes: yes by default')
  t.equal(s.caseSensitive, false, 'case sensitive: auto by default, which is insensitive for SMB2')
  t.equal(s.preserveCase, true, 'preserve case: yes by default')
  t.equal(s.defaultCase, 'lower')
  t.equal(s.createMask, 0o744)
  t.equal(s.directoryMask, 0o755)
  t.equal(s.maxConnections, 128)
  t.equal(s.smb3Encryption, undefined)
  // Samba ignores whitespace and case, not underscores: guest_ok is not guest ok
  t.equal(s.guestOk, false)
  t.match(c.warnings, [/^x\.conf:4: unknown parameter 'guest_ok' in share \[Data\]/])
  t.equal(s.raw.get('read only'), 'no')
  t.equal(s.raw.get('guest_ok'), 'yes')

  for (const [k, v, ro] of [['writeable', 'yes', false], ['writable', 'no', true], ['write ok', 'yes', false], ['read only', 'yes', true]] as const) {
    const sh = parseConfigText(`[s]\npath=/p\n${k} = ${v}\n`).shares.get('s')!
    t.equal(sh.readOnly, ro, `${k} = ${v}`)
  }
  t.equal(parseConfigText('[s]\npath=/p\npublic = yes\n').shares.get('s')!.guestOk, true)
})

t.test('case sensitive, preserve case, default case (Samba spellings)', async (t) => {
  const share = (lines: string): ReturnType<typeof parseConfigText> => parseConfigText(`[s]\npath=/p\n${lines}\n`, 'f.conf')
  for (const [v, want] of [['auto', false], ['Auto', false], ['default', false], ['no', false], ['false', false], ['off', false], ['0', false],
    ['yes', true], ['True', true], ['on', true], ['1', true]] as const) {
    const c = share(`case sensitive = ${v}`)
    t.equal(c.shares.get('s')!.caseSensitive, want, `case sensitive = ${v}`)
    t.same(c.warnings, [], 'a known parameter')
  }
  t.equal(share('casesignames = yes').shares.get('s')!.caseSensitive, true, "Samba's old synonym")
  t.equal(share('case sensitive = yes').shares.get('s')!.raw.get('case sensitive'), 'yes')
  t.equal(share('preserve case = no').shares.get('s')!.preserveCase, false)
  t.equal(share('default case = UPPER').shares.get('s')!.defaultCase, 'upper')
  // share parameters: [global] sets the default for every share
  t.equal(parseConfigText('[global]\ncase sensitive = yes\n[s]\npath=/p\n').shares.get('s')!.caseSensitive, true)
  t.throws(() => share('case sensitive = sometimes'), { code: 'SMBTS_ERR_CONFIG', message: /^f\.conf:3: invalid value 'sometimes' for 'case sensitive' \(expected one of: no, yes, auto\)/ })
  t.throws(() => share('default case = title'), { code: 'SMBTS_ERR_CONFIG', message: /^f\.conf:3: invalid value 'title' for 'default case'/ })
  t.throws(() => share('preserve case = maybe'), { code: 'SMBTS_ERR_CONFIG', message: /^f\.conf:3: invalid boolean 'maybe' for 'preserve case'/ })
})

t.test('unknown parameter warns with file:line, value kept in raw', async (t) => {
  const c = parseConfigText('[global]\n\nlog level = 3\nclient min protocol = SMB2\n', '/etc/smbts/smb.conf')
  t.same(c.warnings, [
    "/etc/smbts/smb.conf:3: unknown parameter 'log level' ignored",
    "/etc/smbts/smb.conf:4: unknown parameter 'client min protocol' ignored"
  ])
  t.equal(c.global.raw.get('log level'), '3')
})

t.test('invalid values are errors with file:line', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['[global]\nbind interfaces only = maybe\n', /^f\.conf:2: invalid boolean 'maybe' for 'bind interfaces only'/],
    ['[global]\n\ntcp port = 99999\n', /^f\.conf:3: invalid value '99999' for 'tcp port' \(must be between 1 and 65535\)/],
    ['[global]\ntcp port = abc\n', /^f\.conf:2: invalid number 'abc'/],
    ['[global]\nserver signing = sometimes\n', /^f\.conf:2: invalid value 'sometimes' for 'server signing' \(expected one of: disabled, auto, mandatory\)/],
    ['[global]\nmap to guest = always\n', /^f\.conf:2: invalid value 'always' for 'map to guest'/],
    ['[global]\nserver max protocol = SMB4\n', /^f\.conf:2: invalid value 'SMB4' for 'server max protocol'/],
    ['[global]\nserver max protocol = NT1\n', /^f\.conf:2: SMB1 \(NT1\) is not supported/],
    ['[global]\nserver min protocol = SMB3_11\nserver max protocol = SMB2_10\n', /^f\.conf:3: server min protocol SMB3_11 is above server max protocol SMB2_10/],
    ['[global]\nrestrict anonymous = 3\n', /^f\.conf:2: invalid value '3' for 'restrict anonymous'/],
    ['[s]\npath = /x\ncreate mask = 0999\n', /^f\.conf:3: invalid mode '0999' for 'create mask'/],
    ['[s]\npath = /x\nwriteable = sure\n', /^f\.conf:3: invalid boolean 'sure' for 'read only'/],
    ['[s]\npath = relative/dir\n', /^f\.conf:2: path 'relative\/dir' of share \[s\] must be absolute/],
    ['[a[b]\npath = /x\n', /^f\.conf:1: /],
    ['[' + 'x'.repeat(64) + ']\npath = /x\n', /^f\.conf:1: share name '.*' is longer than 63 bytes/],
    ['[global]\nsmb2 max credits = 0\n', /^f\.conf:2: invalid value '0' for 'smb2 max credits'/]
  ]
  for (const [text, re] of cases) {
    t.throws(() => parseConfigText(text, 'f.conf'), { name: 'ConfigError', code: 'SMBTS_ERR_CONFIG', message: re }, text)
  }
  // several errors: the first is the message, all are kept
  try {
    parseConfigText('[global]\ntcp port = x\ndeadtime = y\n', 'f.conf')
    t.fail('should throw')
  } catch (e) {
    const err = e as { message: string, diagnostics: unknown[] }
    t.equal(err.message, "f.conf:2: invalid number 'x' for 'tcp port' (and 1 more error)")
    t.equal(err.diagnostics.length, 2)
  }
})

t.test('sizes, protocols, enums and Samba spellings', async (t) => {
  const g = parseConfigText([
    '[global]',
    'smb2 max read = 8M', 'smb2 max write = 1048576', 'smb2 max trans = 64K',
    'smb2 max credits = 2K',
    'server min protocol = smb2', 'server max protocol = SMB3',
    'server signing = required', 'server smb encrypt = off',
    'smb ports = 1445', 'max connections = 0',
    'interfaces = eth0, "br 0"\tlo'
  ].join('\n')).global
  t.equal(g.maxRead, 8 * 1024 * 1024)
  t.equal(g.maxWrite, 1048576)
  t.equal(g.maxTrans, 65536)
  t.equal(g.maxCredits, 2048)
  t.equal(g.minProtocol, 0x0210)
  t.equal(g.maxProtocol, 0x0311)
  t.equal(g.serverSigning, 'mandatory')
  t.equal(g.smb3Encryption, 'disabled')
  t.equal(g.tcpPort, 1445)
  t.equal(g.maxConnections, 65536)
  t.same(g.interfaces, ['eth0', 'br 0', 'lo'])

  for (const [v, d] of [['SMB2_02', 0x0202], ['SMB2_10', 0x0210], ['SMB3_00', 0x0300], ['SMB3_02', 0x0302], ['smb3_11', 0x0311], ['SMB2_24', 0x0300]] as const) {
    t.equal(parseConfigText(`server max protocol = ${v}\n`).global.maxProtocol, d, v)
  }
  // more than we allow is clamped with a warning
  const big = parseConfigText('[global]\nsmb2 max read = 16M\n', 'b.conf')
  t.equal(big.global.maxRead, 8 * 1024 * 1024)
  t.match(big.warnings, [/^b\.conf:2: 'smb2 max read' = 16M is out of range/])
  // SMB1 minimum is raised with a warning
  const nt1 = parseConfigText('server min protocol = NT1\n', 'n.conf')
  t.equal(nt1.global.minProtocol, 0x0202)
  t.match(nt1.warnings, [/SMB1 \(NT1\) is not supported; using SMB2_02/])
  // Samba's map to guest = bad password is refused politely
  const bp = parseConfigText('map to guest = Bad Password\n', 'm.conf')
  t.equal(bp.global.mapToGuest, 'never')
  t.match(bp.warnings, [/^m\.conf:1: 'map to guest = bad password' is not supported; using 'never'/])
  // tcp port and smb ports: last wins; several ports warn
  const ports = parseConfigText('tcp port = 1000\nsmb ports = 2000 139\n', 'p.conf')
  t.equal(ports.global.tcpPort, 2000)
  t.match(ports.warnings, [/one port; using 2000/])
})

t.test('share parameters in [global] are defaults; global ones in a share are ignored', async (t) => {
  const c = parseConfigText('[global]\nread only = no\noplocks = no\nveto files = /x/\n[a]\npath = /a\n[b]\npath = /b\noplocks = yes\nworkgroup = X\n', 'g.conf')
  t.equal(c.shares.get('a')!.readOnly, false)
  t.equal(c.shares.get('a')!.oplocks, false)
  t.equal(c.shares.get('a')!.raw.get('veto files'), '/x/')
  t.equal(c.shares.get('b')!.oplocks, true)
  t.equal(c.global.workgroup, 'WORKGROUP')
  t.match(c.warnings, [/^g\.conf:10: global parameter 'workgroup' in share \[b\] ignored/])
  // max connections in [global] is the server limit, not a share default
  const m = parseConfigText('[global]\nmax connections = 5\n[a]\npath = /a\n')
  t.equal(m.global.maxConnections, 5)
  t.equal(m.shares.get('a')!.maxConnections, 128)
})

t.test('share sections: merging, special and reserved names, missing path, root directory', async (t) => {
  const c = parseConfigText('[A]\npath = /a\n[homes]\n[ipc$]\ncomment = x\n[nopath]\ncomment = c\n[a]\ncomment = later\n', 's.conf')
  t.same([...c.shares.keys()], ['a'])
  t.equal(c.shares.get('a')!.comment, 'later')
  t.equal(c.shares.get('a')!.name, 'A')
  t.match(c.warnings, [
    /^s\.conf:3: special section \[homes\] is not supported/,
    /^s\.conf:4: IPC\$ is provided by the server/,
    /^s\.conf:6: share \[nopath\] has no path; share ignored/
  ])
  const r = parseConfigText('[global]\nroot directory = /chroot\n[a]\npath = /srv/a\n')
  t.equal(r.shares.get('a')!.path, '/chroot/srv/a')
  t.equal(r.shares.get('a')!.raw.get('path'), '/srv/a')
  const enc = parseConfigText('[a]\npath = /a\nsmb3 encryption = mandatory\n')
  t.equal(enc.shares.get('a')!.smb3Encryption, 'mandatory')
})

t.test('share name rules', async (t) => {
  t.equal(shareNameProblem('data'), undefined)
  t.equal(shareNameProblem('print$'), undefined)
  t.equal(shareNameProblem('Документы'), undefined)
  t.equal(shareNameProblem('x'.repeat(63)), undefined)
  t.match(shareNameProblem('x'.repeat(64)), /longer than 63 bytes/)
  t.match(shareNameProblem('é'.repeat(32)), /longer than 63 bytes/)
  t.match(shareNameProblem(''), /empty/)
  t.match(shareNameProblem('a]b'), /contains '\]'/)
  t.match(shareNameProblem('a\tb'), /control character/)
  t.match(shareNameProblem('GLOBAL'), /global section/)
  t.match(shareNameProblem('IPC$'), /IPC\$/)
})

t.test('a ksmbd.conf loads unchanged', async (t) => {
  const c = loadConfig(join(fixtures, 'ksmbd.conf'))
  t.same(c.warnings, [])
  const g = c.global
  t.equal(g.netbiosName, 'FILESRV')
  t.equal(g.serverString, 'Office file server')
  t.equal(g.workgroup, 'OFFICE')
  t.equal(g.mapToGuest, 'bad user')
  t.equal(g.serverSigning, 'mandatory')
  t.equal(g.minProtocol, 0x0210)
  t.equal(g.maxProtocol, 0x0311)
  t.equal(g.tcpPort, 4455)
  t.same(g.interfaces, ['eth0', 'lo'])
  t.equal(g.bindInterfacesOnly, true)
  t.equal(g.maxConnections, 256)
  t.equal(g.deadtime, 15)
  t.equal(g.restrictAnonymous, 2)
  t.equal(g.maxOpenFiles, 20000)
  t.equal(g.raw.get('share:fake_fscaps'), '64')
  t.same([...c.shares.keys()], ['public', 'projects'])
  const pub = c.shares.get('public')!
  t.equal(pub.readOnly, false)
  t.equal(pub.guestOk, true)
  t.equal(pub.createMask, 0o664)
  t.equal(pub.raw.get('hide dot files'), 'no')
  t.equal(pub.hideDotFiles, false)
  t.equal(pub.raw.get('force user'), 'nobody')
  const p = c.shares.get('projects')!
  t.equal(p.readOnly, false)
  t.same(p.validUsers, ['alice', 'bob', '@staff'])
  t.same(p.invalidUsers, ['mallory'])
  t.same(p.readList, ['carol'])
  t.same(p.writeList, ['alice'])
  t.same(p.adminUsers, ['alice'])
  t.same(p.hostsAllow, ['192.168.1.0/24', '127.0.0.1'])
  t.same(p.hostsDeny, ['ALL'])
  t.equal(p.maxConnections, 10)
  t.equal(p.followSymlinks, true)
  t.equal(p.raw.get('vfs objects'), 'acl_xattr streams_xattr')
  t.equal(c.file, join(fixtures, 'ksmbd.conf'))
})

t.test('a Samba smb.conf loads unchanged (warnings only)', async (t) => {
  const c = loadConfig(join(fixtures, 'samba-smb.conf'))
  t.equal(c.global.workgroup, 'HOME')
  t.equal(c.global.mapToGuest, 'bad user')
  t.equal(c.global.minProtocol, 0x0210)
  t.equal(c.global.smb3Encryption, 'auto')
  t.equal(c.global.tcpPort, 445)
  t.same([...c.shares.keys()], ['print$', 'media'])
  const m = c.shares.get('media')!
  t.equal(m.readOnly, false)
  t.equal(m.guestOk, true)
  t.equal(m.createMask, 0o644)
  t.same(m.validUsers, ['Domain Users', 'dave'])
  t.ok(c.warnings.some((w) => /unknown parameter 'server role'/.test(w)))
  t.ok(c.warnings.some((w) => /unknown parameter 'client min protocol'/.test(w)))
  t.ok(c.warnings.some((w) => /special section \[homes\]/.test(w)))
  t.ok(c.warnings.every((w) => w.startsWith(join(fixtures, 'samba-smb.conf') + ':')))
})

t.test("this machine's Samba smb.conf, if installed, loads", { skip: !existsSync('/usr/share/samba/smb.conf') && 'no /usr/share/samba/smb.conf here' }, async (t) => {
  const c = loadConfig('/usr/share/samba/smb.conf')
  t.ok(c.global.workgroup.length > 0)
})

t.test('loadConfig: missing file is one clear error', async (t) => {
  const dir = tempDir('smbts-cfg-')
  t.throws(() => loadConfig(join(dir, 'none.conf')), { code: 'SMBTS_ERR_CONFIG', message: `${join(dir, 'none.conf')}: cannot read configuration: no such file` })
  writeFileSync(join(dir, 'inc.conf'), '[x]\npath = /x\ninclude = sub.conf\n')
  writeFileSync(join(dir, 'sub.conf'), 'oplocks = perhaps\n')
  t.throws(() => loadConfig(join(dir, 'inc.conf')), { message: `${join(dir, 'sub.conf')}:1: invalid boolean 'perhaps' for 'oplocks' (expected yes or no)` })
})

t.test('level2 oplocks (Samba\'s share parameter): default yes, per share or as a [global] default', async (t) => {
  const c = parseConfigText('[global]\nlevel2 oplocks = no\n[a]\npath = /a\n[b]\npath = /b\nlevel2oplocks = yes\n[c]\npath = /c\noplocks = no\n', 'l2.conf')
  t.equal(c.shares.get('a')!.level2Oplocks, false, 'the [global] default')
  t.equal(c.shares.get('b')!.level2Oplocks, true, 'spelled without the space, as Samba allows')
  t.equal(c.shares.get('c')!.oplocks, false)
  t.same(c.warnings, [], 'known to the parser')
  t.equal(parseConfigText('[x]\npath = /x\n').shares.get('x')!.level2Oplocks, true, 'yes by default')
})

t.test('server workers: 0 by default (one per core), 0..64', async (t) => {
  t.equal(parseConfigText('[global]\n', 'f.conf').global.serverWorkers, 0, 'one per core')
  t.equal(parseConfigText('[global]\nserver workers = 0\n', 'f.conf').global.serverWorkers, 0)
  t.equal(parseConfigText('[global]\nserver workers = 4\n', 'f.conf').global.serverWorkers, 4)
  for (const v of ['-1', '65', 'many']) {
    t.throws(() => parseConfigText(`[global]\nserver workers = ${v}\n`, 'f.conf'), { code: 'SMBTS_ERR_CONFIG', message: /^f\.conf:2: .*'server workers'/ }, v)
  }
})

t.test('busy poll: µs, 0 turns it off, at most a second', async (t) => {
  t.equal(parseConfigText('[global]\nbusy poll = 0\n', 'f.conf').global.busyPoll, 0)
  t.equal(parseConfigText('[global]\nbusy poll = 200\n', 'f.conf').global.busyPoll, 200)
  t.throws(() => parseConfigText('[global]\nbusy poll = often\n', 'f.conf'), { code: 'SMBTS_ERR_CONFIG', message: /^f\.conf:2: .*'busy poll'/ })
  t.throws(() => parseConfigText('[global]\nbusy poll = 2000000\n', 'f.conf'), { code: 'SMBTS_ERR_CONFIG', message: /^f\.conf:2: .*'busy poll'/ })
})

t.test('Kerberos: realm, kerberos method, dedicated keytab file, username map', async (t) => {
  const cfg = (lines: string[]): ReturnType<typeof parseConfigText> => parseConfigText(['[global]', ...lines].join('\n') + '\n', 'k.conf')
  t.equal(defaultConfig().global.kerberos, undefined, 'off by default')
  const samba = cfg(['realm = smbts.test', 'kerberos method = dedicated keytab', 'dedicated keytab file = /etc/smbts.keytab', 'username map = /etc/smbts.map'])
  t.same(samba.global.kerberos, { realm: 'SMBTS.TEST', keytab: '/etc/smbts.keytab', servicePrincipal: '' }, "Samba's names; the realm upper-cased")
  t.equal(samba.global.usernameMap, '/etc/smbts.map')
  t.same(samba.warnings, [])
  const ksmbd = cfg(['realm = SMBTS.TEST', 'kerberos keytab file = /k.keytab', 'kerberos service name = cifs/smbts.test@SMBTS.TEST'])
  t.same(ksmbd.global.kerberos, { realm: 'SMBTS.TEST', keytab: '/k.keytab', servicePrincipal: 'cifs/smbts.test@SMBTS.TEST' }, "ksmbd-tools' names")
  t.same(cfg(['realm = R', 'kerberos method = system keytab']).global.kerberos, { realm: 'R', keytab: '', servicePrincipal: '' }, 'system keytab: the library default')
  t.same(cfg(['realm = R', 'kerberos method = secrets and keytab']).global.kerberos?.keytab, '', 'secrets and keytab: the system keytab')
  const noRealm = cfg(['kerberos method = dedicated keytab', 'dedicated keytab file = /k.keytab'])
  t.equal(noRealm.global.kerberos, undefined, 'no realm, no Kerberos')
  t.match(noRealm.warnings, [/without 'realm'/])
  const noFile = cfg(['realm = R', 'kerberos method = dedicated keytab'])
  t.equal(noFile.global.kerberos, undefined)
  t.match(noFile.warnings, [/without 'dedicated keytab file'/])
  const secrets = cfg(['realm = R', 'kerberos method = secrets only', 'dedicated keytab file = /k.keytab'])
  t.equal(secrets.global.kerberos, undefined, 'secrets only: no keytab used')
  t.match(secrets.warnings, [/secrets only/])
  t.throws(() => cfg(['realm = R', 'dedicated keytab file = k.keytab']), /must be an absolute path/)
  t.throws(() => cfg(['kerberos method = kerberos please']), /invalid value/)
})
