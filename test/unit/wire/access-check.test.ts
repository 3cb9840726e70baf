// MS-DTYP 2.5.3.2 access check (src/wire/dtyp/access-check.ts): the spec's rules and the example
// of "How DACLs Control Access to an Object" (Windows SDK; the same walk MS-DTYP's pseudocode does).
import t from 'tap'
import { accessCheck, mapGenericFileRights, modeFromDacl, rightsRemovedByMode, type Token } from '../../../src/wire/dtyp/access-check.js'
import {
  ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE, ACCESS_ALLOWED_OBJECT_ACE_TYPE, ACL_REVISION, INHERIT_ONLY_ACE, OBJECT_INHERIT_ACE,
  type Ace, type SecurityDescriptor,
} from '../../../src/wire/dtyp/security-descriptor.js'
import { sidFromString, SID_WORLD, SID_OWNER_RIGHTS, SID_CREATOR_OWNER } from '../../../src/wire/dtyp/sid.js'
import { AccessMask, FILE_ALL_ACCESS, FILE_GENERIC_READ, FILE_GENERIC_WRITE } from '../../../src/wire/constants.js'

const ANDREW = sidFromString('S-1-5-21-1-2-3-1001')
const JANE = sidFromString('S-1-5-21-1-2-3-1002')
const GROUP_A = sidFromString('S-1-5-21-1-2-3-2001')
const OTHER = sidFromString('S-1-5-21-1-2-3-1003')
const andrew: Token = { user: ANDREW, groups: [GROUP_A, SID_WORLD] }
const jane: Token = { user: JANE, groups: [GROUP_A, SID_WORLD] }
const other: Token = { user: OTHER, groups: [SID_WORLD] }

const allow = (sid: typeof ANDREW, mask: number, flags = 0): Ace => ({ type: ACCESS_ALLOWED_ACE_TYPE, flags, mask, sid })
const deny = (sid: typeof ANDREW, mask: number, flags = 0): Ace => ({ type: ACCESS_DENIED_ACE_TYPE, flags, mask, sid })
const sd = (aces: Ace[] | null, owner = OTHER): SecurityDescriptor => ({ control: 0, owner, dacl: aces === null ? null : { revision: ACL_REVISION, aces } })

const W = AccessMask.FILE_WRITE_DATA
const R = AccessMask.FILE_READ_DATA
const X = AccessMask.FILE_EXECUTE

t.test('the SDK example: Andrew denied by ACE 1, Jane granted by ACEs 2 and 3', async t => {
  // ACE 1 denies Andrew read, write and execute; ACE 2 allows Group A write; ACE 3 allows Everyone
  // read and execute.
  const d = sd([deny(ANDREW, R | W | X), allow(GROUP_A, W), allow(SID_WORLD, R | X)])
  t.same(accessCheck(d, andrew, W), { granted: 0, rejected: W }, 'Andrew: the first ACE denies, the rest is not looked at')
  t.same(accessCheck(d, andrew, R), { granted: 0, rejected: R }, 'Everyone does not undo the deny')
  t.same(accessCheck(d, jane, W | R | X), { granted: W | R | X, rejected: 0 }, 'Jane: write from Group A, read and execute from Everyone')
  t.same(accessCheck(d, other, W | R), { granted: R, rejected: W }, 'not in Group A: no write')
})

t.test('first decision wins per bit: an allow before a deny grants', async t => {
  const d = sd([allow(SID_WORLD, R), deny(SID_WORLD, R | W)])
  t.same(accessCheck(d, jane, R), { granted: R, rejected: 0 })
  t.same(accessCheck(d, jane, R | W), { granted: R, rejected: W })
})

t.test('NULL DACL grants everything; an empty DACL only the owner\'s implicit rights', async t => {
  t.same(accessCheck(sd(null), other, FILE_ALL_ACCESS), { granted: FILE_ALL_ACCESS, rejected: 0 })
  t.equal(accessCheck(sd(null), other, 0, true).granted, FILE_ALL_ACCESS, 'MAXIMUM_ALLOWED: all')
  t.same(accessCheck({ control: 0, owner: OTHER }, other, R), { granted: R, rejected: 0 }, 'no DACL at all: no protection')
  const empty = sd([], JANE)
  t.same(accessCheck(empty, other, R), { granted: 0, rejected: R })
  t.same(accessCheck(empty, jane, AccessMask.READ_CONTROL | AccessMask.WRITE_DAC), { granted: AccessMask.READ_CONTROL | AccessMask.WRITE_DAC, rejected: 0 }, 'the owner reads and writes the DACL')
  t.same(accessCheck(empty, jane, R), { granted: 0, rejected: R })
  t.equal(accessCheck(empty, jane, 0, true).granted, AccessMask.READ_CONTROL | AccessMask.WRITE_DAC)
})

t.test('OWNER RIGHTS replaces the owner\'s implicit rights', async t => {
  const d = sd([allow(SID_OWNER_RIGHTS, R)], JANE)
  t.same(accessCheck(d, jane, AccessMask.READ_CONTROL), { granted: 0, rejected: AccessMask.READ_CONTROL })
  t.same(accessCheck(d, jane, R), { granted: R, rejected: 0 })
  t.same(accessCheck(d, other, R), { granted: 0, rejected: R }, 'OWNER RIGHTS does not speak of others')
  const denied = sd([deny(SID_OWNER_RIGHTS, AccessMask.WRITE_DAC), allow(JANE, FILE_ALL_ACCESS)], JANE)
  t.equal(accessCheck(denied, jane, 0, true).granted, FILE_ALL_ACCESS & ~AccessMask.WRITE_DAC)
})

t.test('INHERIT_ONLY, CREATOR OWNER and object ACEs decide nothing', async t => {
  const d = sd([
    allow(SID_WORLD, W, INHERIT_ONLY_ACE | OBJECT_INHERIT_ACE),
    allow(SID_CREATOR_OWNER, W),
    { type: ACCESS_ALLOWED_OBJECT_ACE_TYPE, flags: 0, mask: W, body: Buffer.alloc(4) },
  ], JANE)
  t.same(accessCheck(d, jane, W), { granted: 0, rejected: W })
})

t.test('generic rights in an ACE are mapped; MAXIMUM_ALLOWED collects every grant', async t => {
  const d = sd([allow(SID_WORLD, AccessMask.GENERIC_READ), deny(GROUP_A, AccessMask.GENERIC_WRITE), allow(JANE, AccessMask.GENERIC_ALL)], ANDREW)
  t.equal(accessCheck(d, jane, 0, true).granted, (FILE_ALL_ACCESS & ~(FILE_GENERIC_WRITE & ~FILE_GENERIC_READ)) >>> 0)
  t.equal(accessCheck(d, other, 0, true).granted, FILE_GENERIC_READ)
  const m = accessCheck(d, jane, R, true)
  t.equal(m.rejected, 0)
  t.equal(mapGenericFileRights(AccessMask.GENERIC_WRITE | AccessMask.DELETE), FILE_GENERIC_WRITE | AccessMask.DELETE)
})

t.test('modeFromDacl: the rwx each POSIX class gets from the DACL', async t => {
  const d = (aces: Ace[] | null): SecurityDescriptor => ({ control: 0, owner: JANE, group: GROUP_A, dacl: aces === null ? null : { revision: ACL_REVISION, aces } })
  t.equal(modeFromDacl(d([allow(JANE, FILE_ALL_ACCESS), allow(GROUP_A, FILE_GENERIC_READ), allow(SID_WORLD, R)])), 0o744)
  t.equal(modeFromDacl(d([allow(SID_WORLD, R | W)])), 0o666, 'Everyone counts for the owner and the group too')
  t.equal(modeFromDacl(d([deny(GROUP_A, W), allow(SID_WORLD, R | W | X)])), 0o757, 'a deny for the group')
  t.equal(modeFromDacl(d(null)), 0o777, 'NULL DACL')
  t.equal(modeFromDacl(d([])), 0, 'empty DACL: the owner\'s implicit rights give no bit')
  t.equal(modeFromDacl(d([allow(SID_CREATOR_OWNER, FILE_ALL_ACCESS), allow(JANE, AccessMask.GENERIC_READ | AccessMask.GENERIC_EXECUTE)])), 0o500)
})

t.test('rightsRemovedByMode: what a chmod took from the token\'s class; never the owner; never a grant', async t => {
  const d: SecurityDescriptor = { control: 0, owner: JANE, group: GROUP_A, dacl: { revision: ACL_REVISION, aces: [allow(JANE, FILE_ALL_ACCESS), allow(GROUP_A, R | W), allow(SID_WORLD, R | X)] } }
  // modeFromDacl: 0o775 (the group is in Everyone: r-x plus rw-).
  t.equal(rightsRemovedByMode(d, other, 0o775, false), 0, 'in step: nothing')
  t.equal(rightsRemovedByMode(d, other, 0o770, false), R | X, 'o-rx: Everyone loses read and execute')
  t.equal(rightsRemovedByMode(d, andrew, 0o755, false), W | AccessMask.FILE_APPEND_DATA, 'g-w: the group (Andrew is in Group A) loses write')
  t.equal(rightsRemovedByMode(d, jane, 0o000 | 0o200, false), 0, 'the owner: never')
  t.equal(rightsRemovedByMode(d, andrew, 0o444, false), X, 'READONLY (no w bit anywhere): w is the attribute\'s matter')
  t.equal(rightsRemovedByMode(d, other, 0o777, false), 0, 'a wider mode grants nothing')
})
