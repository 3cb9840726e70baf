// src/vfs/short-name.ts: 8.3 names for FileAlternateNameInformation.
import t from 'tap'
import { isValid83, shortName } from '../../../src/vfs/short-name.js'

t.test('valid 8.3 names are their own short names', async (t) => {
  for (const n of ['a.txt', 'README', 'FILE1234.ABC', 'x~1.c', "a!#$%&'(.)-@"]) t.ok(isValid83(n), n)
  for (const n of ['ninechars.txt', 'a.html', 'a.b.c', 'with space', 'a+b.txt', '.profile', 'a.', 'ünï.txt', '']) t.notOk(isValid83(n), n)
  t.equal(shortName('a.txt'), 'a.txt', 'kept as spelled, as Samba answers')
})

t.test('other names get a made-up one: 5 characters, ~, 2 of a hash, 3 of the extension', async (t) => {
  const s = shortName('Long File Name.html')!
  t.match(s, /^LONGF~[0-9A-Z]{2}\.HTM$/)
  t.equal(shortName('Long File Name.html'), s, 'the same every time')
  t.equal(shortName('LONG FILE NAME.HTML'), s, 'whatever the case')
  t.not(shortName('Long File Name2.html'), s, 'another name, most likely another hash')
  t.match(shortName('.profile'), /^PROFI~[0-9A-Z]{2}$/, 'a leading dot is no extension')
  t.match(shortName('ünïcødé'), /^NCD~[0-9A-Z]{2}$/, 'characters 8.3 cannot hold are left out')
  t.match(shortName('日本語.txt'), /^_~[0-9A-Z]{2}\.TXT$/, 'nothing left of the stem: _')
  t.ok(isValid83(shortName('a very long name with.many.dots.tar.gz')!), 'what is made up is a valid 8.3 name')
  t.equal(shortName(''), undefined, 'the share root has none')
})

t.test('a name is its own short name exactly when it is 8.3 (how a listing tells them apart)', async (t) => {
  // query-directory.ts gives an entry a ShortName only when shortName(name) differs from the name.
  const names = ['a.txt', 'README', 'x~1.c', 'AB~12', 'LONGF~K3.HTM', 'longf~k3.htm', 'Long File Name.html', 'ninechars.txt',
    'a.html', 'a.b.c', '.profile', 'a.', 'with space', 'ünï.txt', '日本語.txt', 'TORTU~AB.TXT.bak']
  for (const n of names) t.equal(shortName(n) === n, isValid83(n), n)
})
