// What the dispatcher hands a handler, what a handler hands back, and what one request of a
// compound chain leaves the next (Related).
import type { Smb2Header } from '../wire/header.js'
import type { Open, Session, TreeConnect } from '../session/model.js'
import type { Smb2Connection } from './connection.js'
import type { ServerState } from '../session/server-state.js'
import { NtStatusError } from '../wire/errors.js'
import type { Signer } from '../crypto/signing.js'
import { NtStatus } from '../wire/ntstatus.js'

export interface RequestContext {
  readonly server: ServerState
  readonly conn: Smb2Connection
  readonly hdr: Smb2Header
  /** This request, from its header to its end (offsets in requests are relative to the header). */
  readonly msg: Buffer
  /** The request body: msg after the 64-byte header. */
  readonly body: Buffer
  /** The request arrived inside a TRANSFORM_HEADER (decrypted and authenticated). */
  readonly encrypted: boolean
  session?: Session
  tree?: TreeConnect
  open?: Open
  /**
   * Makes this request asynchronous (MS-SMB2 3.3.4.2) and returns the signal that CANCEL or a
   * teardown fires; idempotent. Set by the connection while the handler runs.
   */
  goAsync?: () => AbortSignal
  /** The request is alone in its PDU (not part of a compound). */
  readonly lone?: boolean
  /**
   * A SESSION_SETUP binding this connection to a session of another (MS-SMB2 3.3.5.5.2): whether
   * its signature verified under Session.SigningKey (3.3.5.2.4). Set by the dispatcher.
   */
  binding?: { signed: boolean }
  /** Answer with the SIGNED flag and the request's signature echoed (a signed request for a session that is gone). */
  echoSignature?: boolean
}

/** State carried from one request of a compound chain to the next (MS-SMB2 3.3.5.2.7.2). */
export interface Related {
  sessionId: bigint
  treeId: number
  fileId: { persistent: bigint, volatile: bigint } | undefined
  status: number
  session: Session | undefined
  tree: TreeConnect | undefined
}

export interface Reply {
  /** Defaults to STATUS_SUCCESS; a warning or informational status may carry a normal body. */
  status?: number
  /** Fixed part and dynamic part of the response body. */
  body: Buffer
  /** Extra data sent after the body without copying (READ data). */
  payload?: Buffer
  /** Called once the payload is no longer needed: its bytes left through the transport, were
   *  copied (encrypted), or the connection dropped them. Its buffer may be reused from then on. */
  release?: () => void
  /**
   * The payload is not read yet: the transport reads it from the file straight before sending
   * (a linked read→send on the ring). Only where send.ts canLinkRead allowed it.
   */
  linkedRead?: LinkedRead
  /** Called with the response's final bytes (header included, signed when it is): preauth hashing. */
  onEncoded?: (bytes: Buffer) => void
  /** Set the session id in the response header (SESSION_SETUP on a new session). */
  sessionId?: bigint
  /** Sign the response with this session even if the request wasn't (final SESSION_SETUP). */
  signWith?: Session
  /** Sign with this key rather than the session's key on this connection (a binding's final response: the new channel's). */
  signer?: Signer
}

/**
 * A READ whose data the transport reads into `payload` (the whole requested length) and sends
 * in one kernel chain. The response was built for a full read; when the read comes back short or
 * fails, `finish` builds the response to send instead.
 */
export interface LinkedRead {
  /** The file descriptor to read, kept open (lent by the file) until `readDone`. */
  fd: number
  position: number
  /** The payload's registered-buffer slot on the ring, when it has one (READ_FIXED). */
  bufIndex?: number
  /** Runs once the read is over, or will never run (connection gone). */
  readDone: () => void
  /** The response for what the read really gave: fewer bytes, or an error. */
  finish: (result: number | Error) => Reply
  /** Reads here (not linked) and gives the response; readDone has run by then. */
  readHere: () => Promise<Reply>
  /** Reads here into `payload` and gives the response, for a transport that read none of it
   *  (the file lent stays lent: the transport says readDone). */
  readAgain: () => Promise<Reply>
  /** The share lets the data go from the page cache to the socket uncopied (`use sendfile`). */
  splice: boolean
}

/** A request field at [off, off+len) of `msg` must lie inside the message (MS-SMB2 3.3.5.2.6). */
export function field (msg: Buffer, off: number, len: number): Buffer {
  if (len === 0) return Buffer.alloc(0)
  if (off < 64 || off + len > msg.length) throw new NtStatusError(NtStatus.INVALID_PARAMETER, `field [${off}, ${off + len}) outside ${msg.length}-byte message`)
  return msg.subarray(off, off + len)
}

export function utf16 (b: Buffer): string {
  if (b.length % 2 !== 0) throw new NtStatusError(NtStatus.INVALID_PARAMETER, 'odd-length UTF-16 string')
  return b.toString('utf16le')
}
