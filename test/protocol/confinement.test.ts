// Names that try to leave the share never reach outside it: `..`, symlinks (to /etc and to a
// secret beside the share), absolute-looking names, rename targets. Each gets a definite
// NTSTATUS and the file outside is neither read nor written.
//
// Backend: posix. What is tested is the kernel's confinement (openat2 RESOLVE_BENEATH, symlinks
// inside and outside the share, files beside it): only a real file system has them.
import t from 'tap'
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  Access, Disposition, MemClient, memServer, namesOf, Opt, outputBuffer, readData, renameInfo, Status,
} from '../helpers/mem-client.js'

/** MS-SMB2 2.2.2.2.1: a symlink the share does not follow, named by a CREATE (reparse.ts). */
const STOPPED_ON_SYMLINK = 0x8000002d

const SECRET = 'top secret, outside the share'

function setup (t: { teardown (fn: () => void): void }, extra: string[] = []): ReturnType<typeof memServer> {
  const srv = memServer({ shareLines: extra, backend: 'posix' })
  t.teardown(srv.cleanup)
  writeFileSync(join(srv.root, 'secret.txt'), SECRET)
  symlinkSync('/etc', join(srv.share, 'etc'))
  symlinkSync('../secret.txt', join(srv.share, 'leak.txt'))
  symlinkSync(join(srv.root, 'secret.txt'), join(srv.share, 'abs-leak.txt'))
  writeFileSync(join(srv.share, 'inside.txt'), 'inside')
  symlinkSync('inside.txt', join(srv.share, 'ok-link.txt'))
  return srv
}

/** Opens for read and, if it works, reads: returns the status and anything read. */
async function tryRead (c: MemClient, name: string, options = 0): Promise<{ status: number, data?: Buffer }> {
  const cr = await c.create(name, { access: Access.GENERIC_READ, disposition: Disposition.OPEN, options })
  if (cr.status !== 0) return { status: cr.status }
  const fid = { persistent: cr.body.readBigUInt64LE(64), volatile: cr.body.readBigUInt64LE(72) }
  const r = await c.read(fid, 0, 4096)
  await c.close(fid)
  return { status: r.status, data: r.status === 0 ? Buffer.from(readData(r)) : undefined }
}

const PASSWD_FIRST = readFileSync('/etc/passwd', 'utf8').split('\n')[0]

for (const follow of [false, true]) {
  t.test(`follow symlinks = ${follow ? 'yes' : 'no'}`, async (t) => {
    const srv = setup(t, [`follow symlinks = ${follow ? 'yes' : 'no'}`])
    const c = await new MemClient(srv.state).connect()
    const cases: Array<[string, number[]]> = [
      ['..\\..\\etc\\passwd', [Status.OBJECT_PATH_SYNTAX_BAD]],
      ['..\\secret.txt', [Status.OBJECT_PATH_SYNTAX_BAD]],
      ['sub\\..\\..\\secret.txt', [Status.OBJECT_PATH_SYNTAX_BAD]],
      ['etc\\passwd', [Status.ACCESS_DENIED]],
      // Not followed: STATUS_STOPPED_ON_SYMLINK (the client follows on its side), or refused.
      ['leak.txt', follow ? [Status.ACCESS_DENIED] : [STOPPED_ON_SYMLINK]],
      ['abs-leak.txt', follow ? [Status.ACCESS_DENIED] : [STOPPED_ON_SYMLINK]],
      ['C:\\etc\\passwd', [Status.OBJECT_NAME_INVALID]],
      ['\\\\server\\share\\..\\secret.txt', [Status.OBJECT_NAME_INVALID, Status.OBJECT_PATH_SYNTAX_BAD, Status.INVALID_PARAMETER]],
      ['/etc/passwd', [Status.OBJECT_NAME_INVALID]],
      ['etc/passwd', [Status.OBJECT_NAME_INVALID]],
    ]
    for (const [name, want] of cases) {
      const r = await tryRead(c, name)
      t.ok(want.includes(r.status), `${name}: 0x${r.status.toString(16)} in [${want.map(x => '0x' + x.toString(16)).join(', ')}]`)
      t.equal(r.data, undefined, `${name}: nothing read`)
    }
    // a directory open of the /etc link and listing it
    const d = await c.create('etc', { access: Access.GENERIC_READ, disposition: Disposition.OPEN, options: Opt.DIRECTORY_FILE })
    if (follow) t.equal(d.status, Status.ACCESS_DENIED, 'the /etc link cannot be opened as a directory')
    else t.ok([Status.ACCESS_DENIED, 0xc0000103, STOPPED_ON_SYMLINK].includes(d.status), 'the /etc link is not a directory the share follows')
    // the link inside the share works only when links are followed
    const ok = await tryRead(c, 'ok-link.txt')
    if (follow) t.equal(ok.data?.toString(), 'inside', 'an in-share link is followed')
    // Not followed: STATUS_STOPPED_ON_SYMLINK with the in-share target, for the client to follow
    // (MS-SMB2 2.2.2.2.1); nothing read.
    else t.same([ok.status, ok.data], [STOPPED_ON_SYMLINK, undefined], 'links are not followed')

    // nothing gets written outside either
    const w = await c.create('leak.txt', { disposition: Disposition.OVERWRITE_IF })
    t.ok(w.status === Status.ACCESS_DENIED || (!follow && w.status === STOPPED_ON_SYMLINK), 'overwrite through the link refused (or left to the client: STOPPED_ON_SYMLINK)')
    t.equal(readFileSync(join(srv.root, 'secret.txt'), 'utf8'), SECRET, 'secret untouched')
    t.equal((await c.create('..\\escaped.txt', { disposition: Disposition.CREATE })).status, Status.OBJECT_PATH_SYNTAX_BAD)
    t.equal((await c.create('etc\\smbts-escape', { disposition: Disposition.CREATE })).status, Status.ACCESS_DENIED)
    t.notOk(existsSync(join(srv.root, 'escaped.txt')))

    // rename out of the share
    const fid = await c.open('inside.txt')
    t.equal((await c.setInfo(fid, 1, 10, renameInfo('..\\moved.txt'))).status, Status.OBJECT_PATH_SYNTAX_BAD, 'rename to ..')
    t.equal((await c.setInfo(fid, 1, 10, renameInfo('etc\\moved.txt'))).status, Status.ACCESS_DENIED, 'rename through the /etc link')
    await c.close(fid)
    t.notOk(existsSync(join(srv.root, 'moved.txt')))
    t.ok(existsSync(join(srv.share, 'inside.txt')))

    // the share root's ".." in a listing describes the root, and /etc is never listed
    const root = await c.open('', { access: Access.GENERIC_READ, options: Opt.DIRECTORY_FILE })
    const names = namesOf(outputBuffer(await c.queryDirectory(root, '*')))
    t.ok(names.includes('..'))
    t.notOk(names.includes('secret.txt'))
    t.notOk(names.includes('passwd'))
    t.not(PASSWD_FIRST, '')
    t.notOk(c.closed)
  })
}

// Case-insensitive lookup lists directories and picks names, but every directory it looks into
// is opened beneath the share root with the share's RESOLVE flags: another spelling of a link
// reaches exactly what the link's own spelling reaches (nothing outside), and names outside the
// share are never candidates.
for (const follow of [false, true]) {
  t.test(`case-insensitive names stay beneath the share (follow symlinks = ${follow ? 'yes' : 'no'})`, async (t) => {
    const srv = setup(t, [`follow symlinks = ${follow ? 'yes' : 'no'}`])
    mkdirSync(join(srv.share, 'realdir'))
    writeFileSync(join(srv.share, 'realdir', 'f.txt'), 'in realdir')
    symlinkSync('realdir', join(srv.share, 'linkdir'))
    symlinkSync(srv.root, join(srv.share, 'out')) // the directory holding secret.txt
    const c = await new MemClient(srv.state).connect()
    // Not followed, a link named as the last component is STATUS_STOPPED_ON_SYMLINK: the client follows it, if at all, on its side.
    const denied: number[] = [Status.ACCESS_DENIED, Status.OBJECT_NAME_NOT_FOUND, Status.OBJECT_PATH_NOT_FOUND, ...(follow ? [] : [STOPPED_ON_SYMLINK])]
    // [another spelling, the stored spelling]: the same answer, and nothing from outside read.
    const pairs: Array<[string, string]> = [
      ['ETC\\passwd', 'etc\\passwd'],
      ['Etc\\PASSWD', 'etc\\passwd'],
      ['LEAK.TXT', 'leak.txt'],
      ['Abs-Leak.Txt', 'abs-leak.txt'],
      ['OUT\\SECRET.TXT', 'out\\secret.txt'],
      ['Out\\share\\INSIDE.TXT', 'out\\share\\inside.txt'],
    ]
    for (const [variant, stored] of pairs) {
      const r = await tryRead(c, variant)
      const e = await tryRead(c, stored)
      t.equal(r.status, e.status, `${variant}: 0x${r.status.toString(16)}, as ${stored}`)
      t.ok(denied.includes(r.status), `${variant}: refused`)
      t.equal(r.data, undefined, `${variant}: nothing read`)
    }
    // secret.txt is beside the share: the share root's listing never offers it.
    t.equal((await tryRead(c, 'SECRET.TXT')).status, Status.OBJECT_NAME_NOT_FOUND, 'a name beside the share is not found')
    // ".." is taken by name (Realdir\.. is the share root), never through the directory itself.
    t.equal((await tryRead(c, 'Realdir\\..\\SECRET.TXT')).status, Status.OBJECT_NAME_NOT_FOUND, 'a ".." names the share root, where it is not')
    // Another spelling of an in-share link behaves as the link's own spelling.
    const viaLink = await tryRead(c, 'LINKDIR\\F.TXT')
    const ok = await tryRead(c, 'OK-LINK.TXT')
    if (follow) {
      t.equal(viaLink.data?.toString(), 'in realdir', 'a followed directory link, spelled otherwise')
      t.equal(ok.data?.toString(), 'inside', 'a followed file link, spelled otherwise')
    } else {
      t.ok(denied.includes(viaLink.status) && viaLink.data === undefined, `a directory link is not followed (0x${viaLink.status.toString(16)})`)
      t.same([ok.status, ok.data], [STOPPED_ON_SYMLINK, undefined], 'a file link is not followed (STATUS_STOPPED_ON_SYMLINK)')
    }
    t.equal((await tryRead(c, 'REALDIR\\F.TXT')).data?.toString(), 'in realdir')

    // Writing through another spelling of a link: refused, nothing outside changes.
    t.ok(denied.includes((await c.create('LEAK.TXT', { disposition: Disposition.OVERWRITE_IF })).status), 'overwrite through the link spelled otherwise: refused')
    const created = await c.create('Leak.Txt', { disposition: Disposition.CREATE })
    t.equal(created.status, (await c.create('leak.txt', { disposition: Disposition.CREATE })).status, 'CREATE of the link spelled otherwise: as spelled as stored')
    t.not(created.status, 0, 'and refused')
    const w = await c.create('OUT\\escaped.txt', { disposition: Disposition.CREATE })
    t.ok(denied.includes(w.status), `create through a link to outside: 0x${w.status.toString(16)}`)
    t.notOk(existsSync(join(srv.root, 'escaped.txt')))
    // A rename onto another spelling of the link replaces the link itself, never its target.
    const fid = await c.open('inside.txt')
    const r = await c.setInfo(fid, 1, 10, renameInfo('LEAK.TXT', true))
    t.equal(r.status, 0, 'rename replacing the link')
    await c.close(fid)
    t.equal(readFileSync(join(srv.root, 'secret.txt'), 'utf8'), SECRET, 'secret untouched')
    t.equal(readFileSync(join(srv.share, 'LEAK.TXT'), 'utf8'), 'inside', 'the link was replaced by the file, in the client\'s spelling')
    t.notOk(c.closed)
  })
}
