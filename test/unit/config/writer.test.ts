import t from 'tap'
import { addShareSection, deleteShareSection, hasShareSection, updateShareSection } from '../../../src/config/writer.js'

const base = [
  '# my server',
  '[global]',
  '\tworkgroup = HOME',
  '',
  '; the media share',
  '[Media]',
  '    path = /srv/media',
  '    # keep me',
  '    writeable = yes',
  '    valid users = a, \\',
  '        b',
  '',
  '# the next one',
  '[docs]',
  'path = /srv/docs',
  ''
].join('\n')

t.test('add appends a section, leaves the rest as it was', async (t) => {
  const out = addShareSection(base, 'New', [['path', '/srv/new'], ['comment', '']])
  t.equal(out, base + '\n[New]\n\tpath = /srv/new\n\tcomment =\n')
  t.equal(addShareSection('', 'x', [['path', '/x']]), '[x]\n\tpath = /x\n')
  t.equal(addShareSection('[a]\npath=/a', 'b', [['path', '/b']]), '[a]\npath=/a\n\n[b]\n\tpath = /b\n')
  t.ok(hasShareSection(base, 'media'))
  t.notOk(hasShareSection(base, 'nope'))
})

t.test('update replaces in place (aliases too), appends new ones after the last parameter', async (t) => {
  const out = updateShareSection(base, 'media', [['read only', 'yes'], ['valid users', 'c'], ['comment', 'Films']])
  t.equal(out, [
    '# my server',
    '[global]',
    '\tworkgroup = HOME',
    '',
    '; the media share',
    '[Media]',
    '    path = /srv/media',
    '    # keep me',
    '    read only = yes',
    '    valid users = c',
    '    comment = Films',
    '',
    '# the next one',
    '[docs]',
    'path = /srv/docs',
    ''
  ].join('\n'))
  t.throws(() => updateShareSection(base, 'nope', [['path', '/x']]), /no section \[nope\]/)
  // CRLF files stay CRLF
  t.equal(updateShareSection('[a]\r\npath = /a\r\n', 'a', [['path', '/b']]), '[a]\r\npath = /b\r\n')
})

t.test('delete removes the section, keeps the comments introducing the next one', async (t) => {
  t.equal(deleteShareSection(base, 'MEDIA'), [
    '# my server',
    '[global]',
    '\tworkgroup = HOME',
    '',
    '; the media share',
    '# the next one',
    '[docs]',
    'path = /srv/docs',
    ''
  ].join('\n'))
  t.equal(deleteShareSection(base, 'docs'), base.split('\n').slice(0, 13).join('\n') + '\n')
  t.throws(() => deleteShareSection(base, 'nope'), /no section/)
})
