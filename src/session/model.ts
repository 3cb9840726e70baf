// MS-SMB2 3.3.1: the server's abstract data model, spec names kept. Objects here hold state;
// the command handlers and the dispatcher change it. A dead object (logged off, disconnected,
// closed) stays dead: every lookup checks `state` before handing it out (CONVENTIONS 9).
import type { ShareConfig } from '../config/config.js'
import type { VfsFile, ShareFs } from '../vfs/backend.js'
import type { Signer } from '../crypto/signing.js'
import type { PipeHandle } from '../rpc/host.js'
import type { SessionCipher } from '../crypto/encryption.js'
import type { FileOpen } from '../locking/store.js'
import type { NotifyState } from '../smb2/notify.js'
import type { SessionToken } from './token.js'

export enum SessionState { InProgress = 'InProgress', Valid = 'Valid', Expired = 'Expired', Dead = 'Dead' }

export interface SessionKeys {
  sessionKey: Buffer
  signingKey: Buffer
  encryptionKey?: Buffer
  decryptionKey?: Buffer
  applicationKey?: Buffer
}

/**
 * The connection side of a channel, as this module sees it (the smb2 layer's Smb2Connection, typed
 * by shape so that the data model does not import the protocol layer).
 */
export interface ChannelConnection {
  readonly closed: boolean
  /** The sessions this connection is a channel of. */
  readonly sessions: Set<Session>
}

/** MS-SMB2 3.3.1.8 Channel: one connection of a session, with the key its messages are signed with. */
export interface Channel {
  readonly conn: ChannelConnection
  /** Channel.SigningKey: the session's own on its first channel; a bound channel's is derived from its own authentication. */
  signer?: Signer
}

/** MS-SMB2 3.3.5.5.2: at most this many channels per session (Windows Server's limit; smbtorture smb2.multichannel.generic.num_channels). */
export const MAX_CHANNELS_PER_SESSION = 32

export class Session {
  state = SessionState.InProgress
  user = ''
  domain = ''
  isGuest = false
  isAnonymous = false
  signingRequired = false
  signer?: Signer
  /** MS-SMB2 3.3.1.8 EncryptData: every request must arrive encrypted, every response leaves so. */
  encryptData = false
  /** The client has sent an encrypted request (it may encrypt without being required to): status.json. */
  encryptedTraffic = false
  /** Server→client (EncryptionKey) and client→server (DecryptionKey) ciphers, when negotiated. */
  encryptor?: SessionCipher
  decryptor?: SessionCipher
  keys?: SessionKeys
  /** MS-SMB2 3.3.1.8 PreauthIntegrityHashValue (3.1.1 only). */
  preauthHash?: Buffer
  /** When (ms since the epoch) this session expires without a re-authentication (session lifetime). */
  expiresAt?: number
  /** The SPNEGO exchange in progress (first or re-authentication). */
  auth?: unknown
  /** Who this session is in SIDs (token.ts), made when first needed. */
  token?: SessionToken
  readonly trees = new Map<number, TreeConnect>()
  readonly opens = new Map<bigint, Open>()
  /** MS-SMB2 3.3.1.8 Session.ChannelList, by connection, in the order they were established (the first one first). */
  readonly channels = new Map<ChannelConnection, Channel>()
  /** The cipher the session's first connection negotiated (Session.Connection's CipherId): a bound channel must have the same. */
  cipherId = 0
  private nextTreeId = 1

  constructor (readonly sessionId: bigint, readonly dialect: number) {}

  allocateTreeId (): number {
    return this.nextTreeId++
  }

  get alive (): boolean {
    return this.state !== SessionState.Dead
  }

  /**
   * MS-SMB2 3.3.4.1.1, 3.3.5.2.4: the key messages of this session are signed with on `conn`: its
   * channel's (Channel.SigningKey), else the session's (Session.SigningKey: a binding in progress).
   */
  signerFor (conn: ChannelConnection): Signer | undefined {
    return this.channels.get(conn)?.signer ?? this.signer
  }

  /** A channel of this session whose connection is open (the first established first), for messages the server starts. */
  liveChannel (prefer?: ChannelConnection): ChannelConnection | undefined {
    if (prefer !== undefined && !prefer.closed && this.channels.has(prefer)) return prefer
    for (const c of this.channels.keys()) if (!c.closed) return c
    return undefined
  }
}

export class TreeConnect {
  alive = true
  /** MS-SMB2 3.3.1.6 Share.EncryptData: this share only talks encrypted. */
  encryptData = false
  /** The user is one of the share's `admin users`: root-mapped there, no DACL stops it (as in Samba). */
  admin = false
  readonly opens = new Set<Open>()
  constructor (
    readonly treeId: number,
    readonly session: Session,
    readonly share: ShareConfig | undefined, // undefined for IPC$
    readonly shareName: string,
    readonly fs: ShareFs | undefined,
    readonly maximalAccess: number,
    readonly isPipe: boolean
  ) {}
}

/** A directory enumeration in progress on an Open (MS-SMB2 3.3.5.18). */
export interface DirCursor {
  pattern: string
  /** `gone`: not found when last looked at again (a continued enumeration skips it). */
  entries: { name: string, info: import('../vfs/backend.js').Stat, gone?: boolean }[]
  next: number
}

/**
 * MS-FSA Open.UserSet{Creation,Access,Modification,Change}Time, with the value kept: a time a
 * client set (or froze with -1) through this handle, which this handle's own later changes must
 * not move (MS-FSA 2.1.4.17).
 */
export interface UserSetTimes {
  creationTime?: bigint
  lastAccessTime?: bigint
  lastWriteTime?: bigint
  changeTime?: bigint
}

/** What a durable open keeps (MS-SMB2 3.3.1.10). */
export interface DurableState {
  /** 1: DHnQ; 2: DH2Q. */
  version: 1 | 2
  /** DurableOpenTimeout: how long it waits for its client after a disconnect, ms. */
  timeoutMs: number
  /** CreateGuid (v2): the client's name for this open, for reconnect and replay. */
  createGuid?: Buffer
  /** The ClientGuid of the connection it was made on. */
  clientGuid: Buffer
  /** The user that opened it (a reconnect must be the same one: 3.3.5.9.7). */
  user: string
  domain: string
  /** Made so (or given its timeout) by FSCTL_LMR_REQUEST_RESILIENCY (Open.IsResilient). */
  resilient?: true
  /**
   * MS-SMB2 3.3.1.10 Open.IsPersistent: asked by the DH2Q on a continuously available share; its
   * record (src/session/persistent.ts) lets it outlive a restart of the server.
   */
  persistent?: true
  /** A persistent open's file's inode (its record names the file by it too). */
  ino?: bigint
  /**
   * A persistent open's file's identity as its file system gives it (ShareFs.identity: the
   * kernel's file handle), which finds the file at restore wherever it was renamed to.
   */
  fileIdentity?: Buffer
}

export class Open {
  alive = true
  /** Times this handle keeps as set (FILETIMEs); empty until a SET_INFO FileBasicInformation sets one. */
  readonly userSetTimes: UserSetTimes = {}
  /** Offset the client last set with FilePositionInformation. */
  position = 0n
  /** Where the next FileFullEaInformation scan of this open starts (0-based; ea-info.ts). */
  eaIndex = 0
  /**
   * Rights this handle may use without holding them in grantedAccess (FileAccessInformation):
   * FILE_READ_ATTRIBUTES, which whoever may list the parent directory has (MS-FSA 2.1.5.1.2.1).
   */
  impliedAccess = 0
  mode = 0
  deleteOnClose = false
  /** Ends the mark that has a local program's write break this open's cache (ServerState.watchLocalChanges). */
  unwatchLocal?: () => void
  /** Opened with the POSIX create context (src/smb2/posix.ts): the POSIX information level answers. */
  posix = false
  /** Key of this file in the locking store (a stream's own, streams.ts streamKey). */
  shareModeKey?: string
  /** The named stream this open is of (its name as stored), undefined for the file itself. */
  stream?: string
  /** A stream's open as an open of its file too (create.ts register): released at close. */
  baseOpen?: FileOpen
  dirCursor?: DirCursor
  /** This open in the locking store (its share mode; its oplock, MS-SMB2 3.3.1.10). */
  oplock?: FileOpen
  /** Written or resized through this open: its close breaks its directory's leases. */
  modified = false
  /** The ParentLeaseKey its CREATE named (ClientGuid + key, hex): that directory lease is not broken by its changes. */
  parentLeaseId?: string
  /** IPC$ named pipe: the RPC endpoint behind it. */
  /** CHANGE_NOTIFY: the directory's watch and the changes kept between requests (smb2/notify.ts). */
  notify?: NotifyState
  pipe?: PipeHandle
  /**
   * MS-SMB2 3.3.1.10 Open.ChannelSequence, OutstandingRequestCount, OutstandingPreRequestCount
   * (3.x): the client's channel sequence last seen on this open and the requests in flight
   * under it and under the ones before (smb2/replay.ts). `channelGeneration` counts the
   * sequence's 16-bit wraps, so a request tells which of the two counts it is in.
   */
  channelSequence = 0
  channelGeneration = 0
  outstandingRequestCount = 0
  outstandingPreRequestCount = 0
  /**
   * MS-SMB2 3.3.1.10 Open.LockSequenceArray: LockSequenceIndex (1..64) → the LockSequenceNumber
   * of the last LOCK that succeeded with it (smb2/lock-sequence.ts); an index absent is not valid.
   * Durable and resilient opens get it at their grant; on a multichannel connection every open
   * at its first LOCK.
   */
  lockSequences?: Map<number, number>
  /** FSCTL_SRV_REQUEST_RESUME_KEY: the key naming this open as a server-side copy's source. */
  resumeKey?: Buffer
  /**
   * MS-SMB2 3.3.1.10 Open.IsDurable with its DurableOpenTimeout and (v2) CreateGuid: the open
   * survives the loss of its connection or session (src/session/durable.ts).
   */
  durable?: DurableState
  /**
   * MS-SMB2 3.3.1.10 Open.AppInstanceId, with the ClientGuid of the client that opened it: a
   * later open of the file by the same application instance from another client closes this one
   * (3.3.5.9.13).
   */
  appInstance?: { id: Buffer, clientGuid: Buffer }
  /** MS-SMB2 3.3.1.10 Open.CreateGuid: the DH2Q's, durable or not (a replay of its CREATE finds it). */
  createGuid?: Buffer
  /** The CreateAction its CREATE answered (a replay of that CREATE answers it again). */
  createAction = 0
  /** Aborted as the open closes: what waits on it (a LOCK that waits) ends with it. */
  private closing?: AbortController

  get closeSignal (): AbortSignal { return (this.closing ??= new AbortController()).signal }

  /**
   * Ends every wait on this open with the error `reason` makes (its close). The error is made only
   * when something waits: an Error captures a stack, which cost every CLOSE ~20 µs.
   */
  endWaits (reason: () => Error): void { if (this.closing !== undefined) this.closing.abort(reason()) }

  constructor (
    readonly fileId: { persistent: bigint, volatile: bigint },
    readonly tree: TreeConnect,
    public path: string, // share-relative, '/'-separated, '' = the share root
    public file: VfsFile | undefined, // replaced only when a stream is renamed onto the file's unnamed stream
    readonly grantedAccess: number,
    readonly shareAccess: number,
    readonly createOptions: number,
    readonly isDirectory: boolean
  ) {}
}
