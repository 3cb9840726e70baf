// TREE_CONNECT (MS-SMB2 3.3.5.7) and TREE_DISCONNECT (3.3.5.8): share lookup and the per-share
// access rules of ksmbd.conf (available, valid/invalid users, guest ok, read only, read/write list).
import type { RequestContext, Related, Reply } from '../context.js'
import { field, utf16 } from '../context.js'
import { Command, Dialect, FILE_ALL_ACCESS, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ, ShareCapabilities, ShareFlags, ShareType } from '../../wire/constants.js'
import { NtStatusError } from '../../wire/errors.js'
import { NtStatus } from '../../wire/ntstatus.js'
import { TreeConnect, type Session } from '../../session/model.js'
import type { ShareConfig } from '../../config/config.js'
import { teardownTree } from '../../session/teardown.js'
import { publishEvent } from '../../control/channels.js'

const inList = (list: string[], user: string): boolean => list.some(u => u.toLowerCase() === user.toLowerCase())

/** MS-SMB2 2.2.10 MaximalAccess: what this user may do on this share. */
export function shareAccess (share: ShareConfig, session: Session): { allowed: boolean, readOnly: boolean } {
  const user = session.user
  if (!share.available) return { allowed: false, readOnly: true }
  if (session.isGuest || session.isAnonymous) {
    if (!share.guestOk) return { allowed: false, readOnly: true }
  } else {
    if (inList(share.invalidUsers, user)) return { allowed: false, readOnly: true }
    if (share.validUsers.length > 0 && !inList(share.validUsers, user) && !inList(share.adminUsers, user)) return { allowed: false, readOnly: true }
  }
  let readOnly = share.readOnly
  if (readOnly && inList(share.writeList, user)) readOnly = false
  if (!readOnly && inList(share.readList, user)) readOnly = true
  return { allowed: true, readOnly }
}

/** Live tree connects to `share` across the server, every session and connection together. */
export async function treeConnect (ctx: RequestContext, related?: Related): Promise<Reply> {
  const { body, msg, server } = ctx
  const session = ctx.session!
  const path = utf16(field(msg, body.readUInt16LE(4), body.readUInt16LE(6)))
  // "\\server\share": the share is the last component; the server part is not checked.
  const m = /^\\\\[^\\]+\\([^\\]+)$/.exec(path)
  if (m === null) throw new NtStatusError(NtStatus.BAD_NETWORK_NAME, `bad tree path ${JSON.stringify(path)}`)
  const name = m[1].toLowerCase()

  let tree: TreeConnect
  if (name === 'ipc$') {
    tree = new TreeConnect(session.allocateTreeId(), session, undefined, 'IPC$', undefined, FILE_ALL_ACCESS, true)
  } else {
    const entry = server.shares.get(name)
    if (entry === undefined) throw new NtStatusError(NtStatus.BAD_NETWORK_NAME, `no share ${name}`)
    const access = shareAccess(entry.config, session)
    if (!access.allowed) {
      server.log.info(`tree connect to ${entry.config.name} refused for ${session.user || 'anonymous'}`)
      throw new NtStatusError(NtStatus.ACCESS_DENIED)
    }
    let fs
    try {
      fs = await server.shareFs(entry)
    } catch (e) {
      server.log.error(`share ${entry.config.name}: cannot open ${entry.config.path}: ${(e as Error).message}`)
      throw new NtStatusError(NtStatus.BAD_NETWORK_NAME)
    }
    const maximal = access.readOnly ? (FILE_GENERIC_READ | FILE_GENERIC_EXECUTE) : FILE_ALL_ACCESS
    // MS-SMB2 3.3.5.7: a share that requires encryption refuses a session that cannot encrypt.
    const policy = entry.config.smb3Encryption ?? server.config.global.smb3Encryption
    const encrypt = policy === 'mandatory' && ctx.conn.dialect >= Dialect.SMB3_00
    if (policy === 'mandatory' && session.encryptor === undefined) {
      server.log.info(`tree connect to ${entry.config.name} refused for ${session.user || 'anonymous'}: the share requires encryption`)
      throw new NtStatusError(NtStatus.ACCESS_DENIED, 'share requires encryption')
    }
    tree = new TreeConnect(session.allocateTreeId(), session, entry.config, entry.config.name, fs, maximal, false)
    tree.encryptData = encrypt
    tree.admin = !session.isGuest && !session.isAnonymous && inList(entry.config.adminUsers, session.user)
  }
  // Teardown safety: the session may have been logged off while the share root was opened.
  if (!session.alive) throw new NtStatusError(NtStatus.USER_SESSION_DELETED, 'session torn down during TREE_CONNECT')
  // The share's `max connections` (ksmbd and Samba): counted here, after the await above, so that
  // concurrent TREE_CONNECTs cannot all pass. MS-SMB2 names no status for it; Samba answers
  // STATUS_INSUFFICIENT_RESOURCES. This worker's count is published with this tree in it, in the
  // same step as the check (published without it, another worker would count one fewer than
  // there are); a refusal publishes it again without.
  const share = tree.share
  if (share !== undefined) {
    const key = `share:${share.name.toLowerCase()}`
    if (server.locks.shareCount(key, server.shareUses(share) + 1) > share.maxConnections) {
      server.locks.shareCount(key, server.shareUses(share))
      server.warnRefusal(`tree ${share.name} ${ctx.conn.io.remoteAddress}`, `tree connect to ${share.name} from ${ctx.conn.io.remoteAddress} refused: max connections (${share.maxConnections}) of the share reached`)
      throw new NtStatusError(NtStatus.INSUFFICIENT_RESOURCES, 'share max connections')
    }
  }
  session.trees.set(tree.treeId, tree)
  ctx.tree = tree
  // MS-SMB2 3.3.5.2.7.2: the TreeId this request generates is the one related requests after it use.
  if (related !== undefined) {
    related.treeId = tree.treeId
    related.tree = tree
  }
  if (server.log.wants('smb')) server.log.debug('smb', `tree connect ${tree.shareName} tid=${tree.treeId} session=0x${session.sessionId.toString(16)}`)
  publishEvent(() => ({ type: 'tree-connect', client: ctx.conn.io.remoteAddress, share: tree.shareName, tree: tree.treeId, user: session.user, session: `0x${session.sessionId.toString(16)}` }))

  // MS-SMB2 2.2.10: StructureSize 16, ShareType, Reserved, ShareFlags, Capabilities, MaximalAccess.
  const out = Buffer.alloc(16)
  out.writeUInt16LE(16, 0)
  out[2] = tree.isPipe ? ShareType.PIPE : ShareType.DISK
  out.writeUInt32LE(tree.encryptData ? ShareFlags.ENCRYPT_DATA : 0, 4) // manual caching
  // MS-SMB2 3.3.5.7: CONTINUOUS_AVAILABILITY for a CA share on a 3.x connection (persistent handles).
  out.writeUInt32LE(tree.share?.continuousAvailability === true && ctx.conn.dialect >= Dialect.SMB3_00 ? ShareCapabilities.CONTINUOUS_AVAILABILITY : 0, 8)
  out.writeUInt32LE(tree.maximalAccess >>> 0, 12)
  return { body: out }
}

export async function treeDisconnect (ctx: RequestContext): Promise<Reply> {
  const tree = ctx.tree!
  // A LOCK or CHANGE_NOTIFY that waits ends with its open, as at LOGOFF (session-setup.ts).
  ctx.conn.asyncOps.cancelWhere(op => op.tree === tree && op.command !== Command.LOCK && op.command !== Command.CHANGE_NOTIFY, NtStatus.CANCELLED, 'tree disconnected')
  await teardownTree(ctx.server, tree)
  const out = Buffer.alloc(4)
  out.writeUInt16LE(4, 0)
  return { body: out }
}
