// The one name ⇄ SID map (src/auth/idmap.ts): the SIDs lsarpc and samr give are those of the
// security descriptors, the server's domain and its users, Unix accounts and well-known SIDs.
import t from 'tap'
import { IdMap, machineSid, readUnixAccounts, SidType, userRid } from '../../../src/auth/idmap.js'
import { posixSecurityDescriptor, OWNER_SECURITY_INFORMATION, GROUP_SECURITY_INFORMATION } from '../../../src/wire/dtyp/security-descriptor.js'
import { sidToString } from '../../../src/wire/dtyp/sid.js'
import { testIdMap } from '../../helpers/rpc-env.js'
import { sessionToken } from '../../../src/session/token.js'

const m = testIdMap()

t.test('a file\'s owner and group SIDs resolve to its Unix user and group', async t => {
  const sd = posixSecurityDescriptor({ uid: 1001, gid: 50, mode: 0o640, isDirectory: false }, OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION)
  const owner = m.lookupSid(sidToString(sd.owner!))
  const group = m.lookupSid(sidToString(sd.group!))
  t.same([owner?.domain, owner?.name, owner?.type], ['Unix User', 'alice', SidType.User])
  t.same([group?.domain, group?.name, group?.type], ['Unix Group', 'staff', SidType.Group])
  t.equal(m.lookupName('Unix User\\alice')?.sid, sidToString(sd.owner!), 'and back')
  t.same(m.lookupSid('S-1-22-1-4242'), { sid: 'S-1-22-1-4242', name: '4242', domain: 'Unix User', domainSid: 'S-1-22-1', type: SidType.User }, 'a uid with no account')
})

t.test('the server\'s domain: a stable machine SID, password-db users, None', async t => {
  t.equal(m.domainSid, sidToString(machineSid('smbts-test')), 'derived from the NetBIOS name, case-insensitively')
  t.not(sidToString(machineSid('OTHER')), m.domainSid)
  t.match(m.domainSid, /^S-1-5-21-\d+-\d+-\d+$/)
  t.equal(m.lookupName('alice')?.sid, `${m.domainSid}-3002`, 'a Unix account: RID 1000 + 2·uid')
  t.equal(m.lookupName('SMBTS-TEST\\BOB')?.sid, `${m.domainSid}-${userRid('bob', undefined)}`, 'no Unix account: a RID from the name')
  t.ok(userRid('bob', undefined) > 0x10000000 && (userRid('bob', undefined) & 1) === 1)
  t.equal(m.lookupName('root')?.sid, 'S-1-22-1-0', 'a Unix user not in the password db')
  t.equal(m.lookupName('None')?.sid, `${m.domainSid}-513`)
  t.equal(m.lookupName('smbts-test')?.type, SidType.Domain)
  t.same(m.domainUsers().map(u => [u.name, u.rid, u.fullName]), [['alice', 3002, 'Alice Liddell'], ['bob', userRid('bob', undefined), '']])
})

t.test('well-known SIDs and what is not known', async t => {
  t.same([m.lookupSid('S-1-1-0')?.name, m.lookupSid('S-1-5-32-544')?.domain, m.lookupSid('S-1-5-18')?.name], ['Everyone', 'BUILTIN', 'SYSTEM'])
  t.equal(m.lookupName('BUILTIN\\Administrators')?.sid, 'S-1-5-32-544')
  t.equal(m.lookupName('NT AUTHORITY\\Authenticated Users')?.sid, 'S-1-5-11')
  for (const bad of ['', 'S-1', 'S-1-5-21-1-2-3-4', 'x'.repeat(600), 'S-1-22-3-5']) t.equal(m.lookupSid(bad), null, JSON.stringify(bad.slice(0, 20)))
  t.equal(m.lookupName('no-such'), null)
})

t.test('readUnixAccounts parses passwd and group, skipping what is not an entry', async t => {
  const { users, groups } = readUnixAccounts('/etc/passwd', '/etc/group')
  t.ok(users.some(u => u.name === 'root' && u.id === 0))
  t.ok(groups.some(g => g.name === 'root' && g.id === 0))
  t.same(readUnixAccounts('/nonexistent', '/nonexistent'), { users: [], groups: [] })
  t.ok(new IdMap({ netbiosName: 'X', dbUsers: [], unixUsers: users, unixGroups: groups }).lookupName('root'))
})

t.test('a session\'s token carries the SID the pipes give its user (one mapping)', async t => {
  const netbios = 'SMBTS-TEST'
  const unix = readUnixAccounts()
  const live = new IdMap({ netbiosName: netbios, dbUsers: ['root', 'someone-without-account'], unixUsers: unix.users, unixGroups: unix.groups })
  for (const user of ['root', 'someone-without-account']) {
    const token = sessionToken({ user, isGuest: false, isAnonymous: false }, netbios)
    t.equal(sidToString(token.user), live.lookupName(user)?.sid, `${user}: the token's SID is lsarpc's`)
  }
  t.equal(sidToString(sessionToken({ user: 'x', isGuest: false, isAnonymous: false }, netbios).primaryGroup), `${live.domainSid}-513`, 'Domain Users is samr\'s None')
})
