// The creator a DOS record notes for a file with the default descriptor (session/token.ts
// creatorOf, creatorSids): the token's user and primary group come back from it.
import t from 'tap'
import { creatorOf, creatorSids, sessionToken } from '../../../src/session/token.js'
import { sidToString } from '../../../src/wire/dtyp/sid.js'

t.test('creatorOf and creatorSids are each other\'s inverse for users, guests and anonymous', async t => {
  for (const who of [
    { user: 'alice', isGuest: false, isAnonymous: false },
    { user: 'guest', isGuest: true, isAnonymous: false },
    { user: '', isGuest: false, isAnonymous: true },
  ]) {
    const token = sessionToken(who, 'SMBTS')
    const rid = creatorOf(token, 'SMBTS')
    t.not(rid, undefined, `${who.user || 'anonymous'}: a creator`)
    const back = creatorSids(rid!, 'SMBTS')
    t.equal(sidToString(back.user), sidToString(token.user), 'the same user SID')
    t.equal(sidToString(back.primaryGroup), sidToString(token.primaryGroup), 'the same primary group')
  }
  t.equal(creatorOf(sessionToken({ user: 'alice', isGuest: false, isAnonymous: false }, 'SMBTS'), 'OTHER'), undefined,
    'a SID outside the server\'s domain is no creator (the descriptor is then stored)')
})
