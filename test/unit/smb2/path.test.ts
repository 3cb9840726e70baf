// SMB path names to share-relative paths (src/smb2/path.ts): separators, "..", and the names
// refused before any lookup.
import t from 'tap'
import { smbPathToRelative, smbPathWithStream } from '../../../src/smb2/path.js'
import type { NtStatusError } from '../../../src/wire/errors.js'
import { NtStatus } from '../../../src/wire/ntstatus.js'

const statusOf = (name: string): number | undefined => {
  try { smbPathToRelative(name); return undefined } catch (e) { return (e as NtStatusError).status }
}

t.test('separators', async (t) => {
  t.equal(smbPathToRelative(''), '', 'the share root')
  t.equal(smbPathToRelative('\\'), '', 'a lone separator: the root')
  t.equal(smbPathToRelative('dir\\file.txt'), 'dir/file.txt')
  t.equal(smbPathToRelative('\\dir\\file.txt'), 'dir/file.txt', 'a leading separator names the same file')
  t.equal(smbPathToRelative('dir\\'), 'dir', 'one trailing separator')
  t.equal(statusOf('dir\\\\file'), NtStatus.OBJECT_NAME_INVALID, 'an empty component inside')
})

t.test('".." takes the component before it away, by name; never above the root', async (t) => {
  t.equal(smbPathToRelative('dir\\sub\\..'), 'dir')
  t.equal(smbPathToRelative('dir\\..'), '', 'back to the root')
  t.equal(smbPathToRelative('a\\b\\..\\c\\..\\..\\d'), 'd')
  t.equal(smbPathToRelative('dir\\..\\'), '', 'with a trailing separator')
  t.equal(statusOf('..'), NtStatus.OBJECT_PATH_SYNTAX_BAD, 'the root\'s parent')
  t.equal(statusOf('..\\etc\\passwd'), NtStatus.OBJECT_PATH_SYNTAX_BAD)
  t.equal(statusOf('dir\\..\\..\\secret'), NtStatus.OBJECT_PATH_SYNTAX_BAD, 'climbing past the root later')
  t.equal(statusOf('.'), NtStatus.OBJECT_PATH_SYNTAX_BAD, '"." is refused')
  t.equal(statusOf('dir\\.\\f'), NtStatus.OBJECT_PATH_SYNTAX_BAD)
  // A ".." cannot hide an invalid name: every component is checked.
  t.equal(statusOf('a*b\\..\\c'), NtStatus.OBJECT_NAME_INVALID)
})

t.test('stream names on the last component only', async (t) => {
  t.same(smbPathWithStream('dir\\..\\f.txt:s:$DATA'), { rel: 'f.txt', stream: 's' })
  t.ok(statusOf('a:b\\c') === NtStatus.OBJECT_NAME_INVALID, 'a colon before the last component')
})
