import t from 'tap'
import { NtStatus } from '../../../src/wire/ntstatus.js'
import { NtStatusError } from '../../../src/wire/errors.js'
import {
  ntStatusFromErrno, ntStatusFromPathErrno, ntStatusFromRenameErrno, ntStatusErrorFromErrno, errnoCode
} from '../../../src/vfs/errno.js'

const table: Array<[string, number]> = [
  ['ENOENT', NtStatus.OBJECT_NAME_NOT_FOUND],
  ['EEXIST', NtStatus.OBJECT_NAME_COLLISION],
  ['EACCES', NtStatus.ACCESS_DENIED],
  ['EPERM', NtStatus.ACCESS_DENIED],
  ['EXDEV', NtStatus.ACCESS_DENIED],
  ['ELOOP', NtStatus.ACCESS_DENIED],
  ['ENOTDIR', NtStatus.OBJECT_PATH_NOT_FOUND],
  ['EISDIR', NtStatus.FILE_IS_A_DIRECTORY],
  ['ENOTEMPTY', NtStatus.DIRECTORY_NOT_EMPTY],
  ['ENOSPC', NtStatus.DISK_FULL],
  ['EDQUOT', NtStatus.DISK_FULL],
  ['EFBIG', NtStatus.DISK_FULL],
  ['EMFILE', NtStatus.TOO_MANY_OPENED_FILES],
  ['ENFILE', NtStatus.TOO_MANY_OPENED_FILES],
  ['ENAMETOOLONG', NtStatus.OBJECT_NAME_INVALID],
  ['EROFS', NtStatus.MEDIA_WRITE_PROTECTED],
  ['EBADF', NtStatus.INVALID_HANDLE],
  ['EINVAL', NtStatus.INVALID_PARAMETER],
  ['EBUSY', NtStatus.SHARING_VIOLATION],
  ['ENOTSUP', NtStatus.NOT_SUPPORTED],
  ['EOPNOTSUPP', NtStatus.NOT_SUPPORTED],
  ['ENODATA', NtStatus.NOT_FOUND],
  ['EIO', NtStatus.IO_DEVICE_ERROR],
  ['EMLINK', NtStatus.TOO_MANY_LINKS],
  ['EAGAIN', NtStatus.FILE_LOCK_CONFLICT],
  ['EWHATEVER', NtStatus.UNSUCCESSFUL]
]

t.test('errno code table', async t => {
  for (const [code, status] of table) t.equal(ntStatusFromErrno({ code }), status, code)
})

t.test('numeric errno (libuv negative, native positive)', async t => {
  t.equal(ntStatusFromErrno({ errno: -2 }), NtStatus.OBJECT_NAME_NOT_FOUND)
  t.equal(ntStatusFromErrno({ errno: 2 }), NtStatus.OBJECT_NAME_NOT_FOUND)
  t.equal(ntStatusFromErrno({ errno: 95 }), NtStatus.NOT_SUPPORTED, 'EOPNOTSUPP/ENOTSUP share 95')
  t.equal(ntStatusFromErrno({ errno: 61 }), NtStatus.NOT_FOUND, 'ENODATA')
  t.equal(errnoCode({ errno: -13 }), 'EACCES')
})

t.test('real fs errors', async t => {
  const { promises: fsp } = await import('node:fs')
  const err = await fsp.stat('/definitely/not/here').catch((e: unknown) => e)
  t.equal(ntStatusFromErrno(err), NtStatus.OBJECT_NAME_NOT_FOUND)
  const isdir = await fsp.readFile('/').catch((e: unknown) => e)
  t.equal(ntStatusFromErrno(isdir), NtStatus.FILE_IS_A_DIRECTORY)
})

t.test('non-errno values', async t => {
  t.equal(ntStatusFromErrno(new Error('bug')), NtStatus.INTERNAL_ERROR)
  t.equal(ntStatusFromErrno(undefined), NtStatus.INTERNAL_ERROR)
  t.equal(ntStatusFromErrno('ENOENT'), NtStatus.INTERNAL_ERROR)
  t.equal(ntStatusFromErrno(new NtStatusError(NtStatus.DELETE_PENDING)), NtStatus.DELETE_PENDING)
  const e = ntStatusErrorFromErrno({ code: 'EEXIST' })
  t.ok(e instanceof NtStatusError)
  t.equal(e.status, NtStatus.OBJECT_NAME_COLLISION)
})

t.test('path and rename contexts', async t => {
  t.equal(ntStatusFromPathErrno({ code: 'ENOENT' }, 'parent'), NtStatus.OBJECT_PATH_NOT_FOUND)
  t.equal(ntStatusFromPathErrno({ code: 'ENOTDIR' }, 'parent'), NtStatus.OBJECT_PATH_NOT_FOUND)
  t.equal(ntStatusFromPathErrno({ code: 'ENOENT' }, 'final'), NtStatus.OBJECT_NAME_NOT_FOUND)
  t.equal(ntStatusFromPathErrno({ code: 'ENOTDIR' }, 'final'), NtStatus.NOT_A_DIRECTORY)
  t.equal(ntStatusFromPathErrno({ code: 'EACCES' }, 'parent'), NtStatus.ACCESS_DENIED)
  t.equal(ntStatusFromRenameErrno({ code: 'EXDEV' }), NtStatus.NOT_SAME_DEVICE)
  t.equal(ntStatusFromRenameErrno({ code: 'ENOTEMPTY' }), NtStatus.ACCESS_DENIED)
  t.equal(ntStatusFromRenameErrno({ code: 'EEXIST' }), NtStatus.OBJECT_NAME_COLLISION)
  t.equal(ntStatusFromRenameErrno({ code: 'ENOENT' }), NtStatus.OBJECT_NAME_NOT_FOUND)
})

t.test('the error a handler throws: status in context, message, cause', async t => {
  const exdev = Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' })
  t.equal(ntStatusErrorFromErrno(exdev).status, NtStatus.ACCESS_DENIED, 'a path leaving the share')
  t.equal(ntStatusErrorFromErrno(exdev, 'rename').status, NtStatus.NOT_SAME_DEVICE, 'rename(2) across file systems')
  t.equal(ntStatusErrorFromErrno({ code: 'ENOENT' }, 'parent').status, NtStatus.OBJECT_PATH_NOT_FOUND)
  t.equal(ntStatusErrorFromErrno({ errno: -20 }, 'final').status, NtStatus.NOT_A_DIRECTORY, 'a bare errno number, in context')
  const e = ntStatusErrorFromErrno(exdev)
  t.equal(e.message, exdev.message, 'the message is the backend\'s')
  t.equal((e as Error & { cause?: unknown }).cause, exdev, 'the backend\'s error is the cause')
  t.equal(ntStatusErrorFromErrno(exdev, 'rename', 'a -> b/c').message, 'a -> b/c: EXDEV', 'a subject names the path and the errno')
  const passed = new NtStatusError(NtStatus.DELETE_PENDING, 'why')
  t.equal(ntStatusErrorFromErrno(passed, 'rename', 'x'), passed, 'an NtStatusError passes through untouched')
  t.equal(ntStatusErrorFromErrno(undefined).status, NtStatus.INTERNAL_ERROR, 'not an error at all')
})
