import t from 'tap'
import { parseSmbConf } from '../../../src/config/parse.js'
import { parseConfigText, ConfigError } from '../../../src/config/config.js'

t.test('sections, comments, blank lines and implicit global', async (t) => {
  const p = parseSmbConf([
    'netbios name = EARLY',
    '# comment',
    '; another comment',
    '',
    '[global]',
    '  workgroup = W  ',
    '[Share One]  ',
    'path = /srv/a ; not a comment inside a value',
    '[ spaced ]'
  ].join('\n'), '/etc/x.conf')
  t.same(p.diagnostics, [])
  t.same(p.sections.map((s) => s.name), ['global', 'global', 'Share One', 'spaced'])
  t.same(p.sections[0]!.entries, [{ key: 'netbios name', value: 'EARLY', file: '/etc/x.conf', line: 1 }])
  t.equal(p.sections[1]!.entries[0]!.value, 'W')
  t.equal(p.sections[2]!.entries[0]!.value, '/srv/a ; not a comment inside a value')
  t.equal(p.sections[2]!.line, 7)
})

t.test('continuation lines join, keep the first line number', async (t) => {
  const p = parseSmbConf('[s]\nvalid users = a, \\\n   b, \\\n\tc\npath = /x\n', 'f')
  const e = p.sections[1]!.entries
  t.same(e.map((x) => [x.key, x.value, x.line]), [['valid users', 'a, b, c', 2], ['path', '/x', 5]])
})

t.test('CRLF and BOM', async (t) => {
  const p = parseSmbConf('\ufeff[s]\r\npath = /x\r\n', 'f')
  t.equal(p.sections[1]!.name, 's')
  t.equal(p.sections[1]!.entries[0]!.value, '/x')
})

t.test('syntax problems carry file and line', async (t) => {
  const p = parseSmbConf('[global]\njunk line\n[broken\n', 'my.conf')
  t.same(p.diagnostics.map((d) => [d.severity, d.file, d.line]), [['warning', 'my.conf', 2], ['error', 'my.conf', 3]])
  t.throws(() => parseConfigText('[broken\n', 'my.conf'), { code: 'SMBTS_ERR_CONFIG', message: /^my\.conf:1: section header without/ })
})

t.test('include: relative to the including file, nested, in place', async (t) => {
  const files: Record<string, string> = {
    '/etc/smbts/shares.d/a.conf': '[a]\npath = /srv/a\ninclude = ../more.conf\n',
    '/etc/smbts/more.conf': 'comment = from more\n'
  }
  const read = (p: string): string => {
    const f = files[p]
    if (f === undefined) throw Object.assign(new Error('ENOENT: ' + p), { code: 'ENOENT' })
    return f
  }
  const p = parseSmbConf('[global]\ninclude = shares.d/a.conf\n', '/etc/smbts/smb.conf', { readInclude: read })
  t.same(p.diagnostics, [])
  const a = p.sections.find((s) => s.name === 'a')!
  t.same(a.entries.map((e) => [e.key, e.value, e.file, e.line]), [
    ['path', '/srv/a', '/etc/smbts/shares.d/a.conf', 2],
    ['comment', 'from more', '/etc/smbts/more.conf', 1]
  ])
  const c = parseConfigText('[global]\ninclude = shares.d/a.conf\n', '/etc/smbts/smb.conf', read)
  t.equal(c.shares.get('a')!.comment, 'from more')
})

t.test('include cycle is an error at the include line', async (t) => {
  const files: Record<string, string> = {
    '/c/main.conf': '[global]\ninclude = a.conf\n',
    '/c/a.conf': '\n\ninclude = b.conf\n',
    '/c/b.conf': 'include = /c/a.conf\n'
  }
  const read = (p: string): string => files[p]!
  const err = t.throws(() => parseConfigText(files['/c/main.conf']!, '/c/main.conf', read)) as unknown as ConfigError
  t.match(err.message, /^\/c\/b\.conf:1: include cycle: \/c\/a\.conf -> \/c\/b\.conf -> \/c\/a\.conf/)
  // including the top file itself is a cycle too
  t.throws(() => parseConfigText('include = main.conf\n', '/c/main.conf', read), { message: /^\/c\/main\.conf:1: include cycle/ })
})

t.test('include depth limit', async (t) => {
  // each file includes the next: x0 -> x1 -> ... (no cycle, just deep)
  const read = (p: string): string => {
    const n = Number(/x(\d+)\.conf$/.exec(p)![1])
    return `include = x${n + 1}.conf\n`
  }
  t.throws(() => parseConfigText('include = x0.conf\n', '/d/top.conf', read), { message: /nested deeper than 16 levels/ })
})

t.test('missing include and substitutions only warn', async (t) => {
  const read = (p: string): string => { throw Object.assign(new Error('no ' + p), { code: 'ENOENT' }) }
  const c = parseConfigText('[global]\ninclude = nope.conf\ninclude = /etc/samba/%m.conf\n', '/e/smb.conf', read)
  t.match(c.warnings, [/^\/e\/smb\.conf:2: include file '\/e\/nope\.conf' not found/, /^\/e\/smb\.conf:3: include with substitutions/])
})
