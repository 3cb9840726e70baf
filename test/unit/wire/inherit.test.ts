// MS-DTYP 2.5.3.4 inheritance (src/wire/dtyp/inherit.ts): the flag table Windows answers
// smbtorture's smb2.acls.INHERITANCE with, CREATOR OWNER/GROUP, generic rights, auto-inheritance,
// and the descriptor a new object gets from an explicit descriptor, its parent or the default.
import t from 'tap'
import { createObjectSecurity, hasInheritableAces, inheritAces, mapAclGenericRights } from '../../../src/wire/dtyp/inherit.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, ACL_REVISION, CONTAINER_INHERIT_ACE, INHERIT_ONLY_ACE, INHERITED_ACE,
  NO_PROPAGATE_INHERIT_ACE, OBJECT_INHERIT_ACE, SE_DACL_AUTO_INHERITED, SE_DACL_PROTECTED, type Ace, type Acl,
} from '../../../src/wire/dtyp/security-descriptor.js'
import { sidFromString, SID_WORLD, SID_CREATOR_OWNER, SID_CREATOR_GROUP } from '../../../src/wire/dtyp/sid.js'
import { AccessMask, FILE_ALL_ACCESS, FILE_GENERIC_READ } from '../../../src/wire/constants.js'

const OWNER = sidFromString('S-1-5-21-1-2-3-1001')
const GROUP = sidFromString('S-1-5-21-1-2-3-513')
const W = AccessMask.FILE_WRITE_DATA
const OI = OBJECT_INHERIT_ACE
const CI = CONTAINER_INHERIT_ACE
const NP = NO_PROPAGATE_INHERIT_ACE
const IO = INHERIT_ONLY_ACE

const acl = (...aces: Ace[]): Acl => ({ revision: ACL_REVISION, aces })
const allow = (sid: typeof OWNER, mask: number, flags = 0): Ace => ({ type: ACCESS_ALLOWED_ACE_TYPE, flags, mask, sid })

t.test('the INHERITANCE flag table: a CREATOR OWNER ACE with each flag set', async t => {
  // [parent flags, file gets (undefined: nothing), directory gets]
  const table: Array<[number, Ace[], Ace[]]> = [
    [0, [], []],
    [OI, [allow(OWNER, W)], [allow(SID_CREATOR_OWNER, W, OI | IO)]],
    [CI, [], [allow(OWNER, W), allow(SID_CREATOR_OWNER, W, CI | IO)]],
    [OI | CI, [allow(OWNER, W)], [allow(OWNER, W), allow(SID_CREATOR_OWNER, W, OI | CI | IO)]],
    [NP, [], []],
    [NP | OI, [allow(OWNER, W)], []],
    [NP | CI, [], [allow(OWNER, W)]],
    [NP | CI | OI, [allow(OWNER, W)], [allow(OWNER, W)]],
    [IO, [], []],
    [IO | OI, [allow(OWNER, W)], [allow(SID_CREATOR_OWNER, W, OI | IO)]],
    [IO | CI, [], [allow(OWNER, W), allow(SID_CREATOR_OWNER, W, CI | IO)]],
    [IO | CI | OI, [allow(OWNER, W)], [allow(OWNER, W), allow(SID_CREATOR_OWNER, W, CI | OI | IO)]],
    [IO | NP, [], []],
    [IO | NP | OI, [allow(OWNER, W)], []],
    [IO | NP | CI, [], [allow(OWNER, W)]],
    [IO | NP | CI | OI, [allow(OWNER, W)], [allow(OWNER, W)]],
  ]
  for (const [flags, file, dir] of table) {
    const parent = acl(allow(SID_CREATOR_OWNER, W, flags), allow(SID_WORLD, FILE_ALL_ACCESS))
    t.same(inheritAces(parent, false, OWNER, GROUP, false), file, `file under 0x${flags.toString(16)}`)
    t.same(inheritAces(parent, true, OWNER, GROUP, false), dir, `directory under 0x${flags.toString(16)}`)
  }
})

t.test('an ordinary SID: kept as it is on a directory, no split', async t => {
  const parent = acl(allow(SID_WORLD, W, OI | CI), { type: ACCESS_DENIED_ACE_TYPE, flags: CI, mask: W, sid: GROUP })
  t.same(inheritAces(parent, true, OWNER, GROUP, false), [allow(SID_WORLD, W, OI | CI), { type: ACCESS_DENIED_ACE_TYPE, flags: CI, mask: W, sid: GROUP }])
  t.same(inheritAces(parent, false, OWNER, GROUP, false), [allow(SID_WORLD, W)])
})

t.test('CREATOR GROUP and generic rights: the effective ACE is mapped, the inheritable one kept', async t => {
  const parent = acl(allow(SID_CREATOR_GROUP, AccessMask.GENERIC_READ, OI | CI))
  t.same(inheritAces(parent, false, OWNER, GROUP, false), [allow(GROUP, FILE_GENERIC_READ)])
  t.same(inheritAces(parent, true, OWNER, GROUP, false), [allow(GROUP, FILE_GENERIC_READ), allow(SID_CREATOR_GROUP, AccessMask.GENERIC_READ, OI | CI | IO)])
  const generic = acl(allow(SID_WORLD, AccessMask.GENERIC_ALL, CI))
  t.same(inheritAces(generic, true, OWNER, GROUP, false), [allow(SID_WORLD, FILE_ALL_ACCESS), allow(SID_WORLD, AccessMask.GENERIC_ALL, CI | IO)])
})

t.test('auto-inheritance marks every inherited ACE; duplicates are dropped', async t => {
  const parent = acl(allow(SID_WORLD, W, OI), allow(SID_WORLD, W, OI | NP))
  t.same(inheritAces(parent, false, OWNER, GROUP, true), [allow(SID_WORLD, W, INHERITED_ACE)])
  t.same(inheritAces(parent, true, OWNER, GROUP, true), [allow(SID_WORLD, W, OI | IO | INHERITED_ACE)])
  t.ok(hasInheritableAces(parent, false))
  t.notOk(hasInheritableAces(acl(allow(SID_WORLD, W, CI)), false))
  t.notOk(hasInheritableAces(null, true))
})

t.test('the new object\'s descriptor: explicit, inherited, or the default', async t => {
  const defaultDacl = (): Acl => acl(allow(OWNER, FILE_ALL_ACCESS))
  const base = { isContainer: false, owner: OWNER, group: GROUP, defaultDacl }
  t.same(createObjectSecurity(base), { sd: { control: 0, owner: OWNER, group: GROUP, dacl: defaultDacl() }, source: 'default' }, 'no parent: the default')
  const parent = { control: SE_DACL_AUTO_INHERITED, dacl: acl(allow(SID_CREATOR_OWNER, W, OI)) }
  t.same(createObjectSecurity({ ...base, parent }), { sd: { control: SE_DACL_AUTO_INHERITED, owner: OWNER, group: GROUP, dacl: acl(allow(OWNER, W, INHERITED_ACE)) }, source: 'inherited' })
  t.equal(createObjectSecurity({ ...base, parent: { control: 0, dacl: acl(allow(SID_WORLD, W, CI)) } }).source, 'default', 'nothing for a file: the default')
  const explicit = { control: SE_DACL_PROTECTED, owner: SID_WORLD, dacl: acl(allow(SID_WORLD, AccessMask.GENERIC_READ)) }
  t.same(createObjectSecurity({ ...base, parent, explicit }), { sd: { control: SE_DACL_PROTECTED, owner: SID_WORLD, group: GROUP, dacl: acl(allow(SID_WORLD, FILE_GENERIC_READ)) }, source: 'explicit' }, 'explicit DACL as given, generic rights mapped, nothing merged')
  t.same(createObjectSecurity({ ...base, parent, explicit: { control: 0, dacl: null } }).sd.dacl, null, 'an explicit NULL DACL stays NULL')
  t.equal(createObjectSecurity({ ...base, parent, explicit: { control: 0 } }).source, 'inherited', 'no DACL in the explicit one: inherited')
  t.same(mapAclGenericRights(acl(allow(SID_WORLD, AccessMask.GENERIC_READ, OI | IO))).aces[0]!.mask, AccessMask.GENERIC_READ, 'INHERIT_ONLY ACEs keep generic rights')
})
