// One declarative row per command (CONVENTIONS 2): what the dispatcher checks before a handler runs.
import { Command } from '../wire/constants.js'
import type { Related, Reply, RequestContext } from './context.js'
import { negotiate } from './commands/negotiate.js'
import { logoff, sessionSetup } from './commands/session-setup.js'
import { treeConnect, treeDisconnect } from './commands/tree-connect.js'
import { create } from './commands/create.js'
import { close, echo, flush, read, write } from './commands/io.js'
import { queryDirectory } from './commands/query-directory.js'
import { queryInfo, setInfo } from './commands/query-info.js'
import { ioctl } from './commands/ioctl.js'
import { changeNotify } from './commands/change-notify.js'
import { lock } from './commands/lock.js'
import { leaseBreakAck, oplockBreak } from './commands/oplock-break.js'

export interface CommandRow {
  name: string
  /** MS-SMB2 2.2.x StructureSize of the request. */
  structureSize: number
  /**
   * 'none': no session; 'any': a session in any live state (SESSION_SETUP); 'valid': an established
   * one; 'if-named': verified like 'valid' only when the request is signed or names a SessionId (ECHO).
   */
  session: 'none' | 'if-named' | 'any' | 'valid'
  tree: boolean
  /** Offset of the FileId in the body, when the command names an open. */
  fileIdOffset?: number
  /** The FileId may be all-ones (IOCTLs that name no file). */
  fileIdOptional?: boolean
  /**
   * It changes the open's file: a ChannelSequence the open has moved past fails it with
   * STATUS_FILE_NOT_AVAILABLE (MS-SMB2 3.3.5.2.10; smb2/replay.ts).
   */
  modifies?: boolean
  handler: (ctx: RequestContext, related: Related) => Promise<Reply>
  /**
   * Another request shape of the same command, told apart by its StructureSize (OPLOCK_BREAK:
   * the 24-byte oplock acknowledgment, or the 36-byte lease acknowledgment, MS-SMB2 3.3.5.22).
   */
  variant?: CommandRow
}

const row = (r: CommandRow): CommandRow => r

export const COMMAND_TABLE: Record<number, CommandRow | undefined> = {
  [Command.NEGOTIATE]: row({ name: 'NEGOTIATE', structureSize: 36, session: 'none', tree: false, handler: negotiate }),
  [Command.SESSION_SETUP]: row({ name: 'SESSION_SETUP', structureSize: 25, session: 'any', tree: false, handler: sessionSetup }),
  [Command.LOGOFF]: row({ name: 'LOGOFF', structureSize: 4, session: 'valid', tree: false, handler: logoff }),
  [Command.TREE_CONNECT]: row({ name: 'TREE_CONNECT', structureSize: 9, session: 'valid', tree: false, handler: treeConnect }),
  [Command.TREE_DISCONNECT]: row({ name: 'TREE_DISCONNECT', structureSize: 4, session: 'valid', tree: true, handler: treeDisconnect }),
  [Command.CREATE]: row({ name: 'CREATE', structureSize: 57, session: 'valid', tree: true, handler: create }),
  [Command.CLOSE]: row({ name: 'CLOSE', structureSize: 24, session: 'valid', tree: true, fileIdOffset: 8, handler: close }),
  [Command.FLUSH]: row({ name: 'FLUSH', structureSize: 24, session: 'valid', tree: true, fileIdOffset: 8, handler: flush }),
  [Command.READ]: row({ name: 'READ', structureSize: 49, session: 'valid', tree: true, fileIdOffset: 16, handler: read }),
  [Command.WRITE]: row({ name: 'WRITE', structureSize: 49, session: 'valid', tree: true, fileIdOffset: 16, modifies: true, handler: write }),
  [Command.LOCK]: row({ name: 'LOCK', structureSize: 48, session: 'valid', tree: true, fileIdOffset: 8, handler: lock }),
  [Command.IOCTL]: row({ name: 'IOCTL', structureSize: 57, session: 'valid', tree: true, fileIdOffset: 8, fileIdOptional: true, modifies: true, handler: ioctl }),
  // MS-SMB2 3.3.5.17: ECHO verifies the session when signed or when its SessionId is not zero.
  [Command.ECHO]: row({ name: 'ECHO', structureSize: 4, session: 'if-named', tree: false, handler: echo }),
  [Command.QUERY_DIRECTORY]: row({ name: 'QUERY_DIRECTORY', structureSize: 33, session: 'valid', tree: true, fileIdOffset: 8, handler: queryDirectory }),
  [Command.CHANGE_NOTIFY]: row({ name: 'CHANGE_NOTIFY', structureSize: 32, session: 'valid', tree: true, fileIdOffset: 8, handler: changeNotify }),
  [Command.QUERY_INFO]: row({ name: 'QUERY_INFO', structureSize: 41, session: 'valid', tree: true, fileIdOffset: 24, handler: queryInfo }),
  [Command.SET_INFO]: row({ name: 'SET_INFO', structureSize: 33, session: 'valid', tree: true, fileIdOffset: 16, modifies: true, handler: setInfo }),
  [Command.OPLOCK_BREAK]: row({
    name: 'OPLOCK_BREAK', structureSize: 24, session: 'valid', tree: true, fileIdOffset: 8, handler: oplockBreak,
    variant: row({ name: 'LEASE_BREAK', structureSize: 36, session: 'valid', tree: true, handler: leaseBreakAck }),
  }),
}
