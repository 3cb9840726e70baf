// MS-SMB2 3.3.5.2.10 Verifying the Channel Sequence Number. A 3.x client that loses a channel
// retries its requests on another one with a higher ChannelSequence (and, for a retry of the
// same request, SMB2_FLAGS_REPLAY_OPERATION): the open remembers the sequence it last saw and
// how many requests are in flight under it and under the ones before, so a request from a
// channel the client has given up on (a lower sequence) cannot change the file after its retry
// did. Such a WRITE, SET_INFO or IOCTL fails with STATUS_FILE_NOT_AVAILABLE; a replay while
// older requests are still in flight fails the same way.
//
// The comparison is the spec's unsigned 16-bit difference, with Samba's reading of a difference
// above 0x7FFF as the client's counter having wrapped (smbtorture smb2.replay.channel-sequence
// pins both down).
import { HeaderFlags } from '../wire/constants.js'
import type { Smb2Header } from '../wire/header.js'
import { NtStatusError } from '../wire/errors.js'
import { NtStatus } from '../wire/ntstatus.js'
import type { Open } from '../session/model.js'

/** What one request added to its open's counts, for `uncount` once it is answered. */
export interface ChannelSequenceCount { open: Open, sequence: number, generation: number }

/** ChannelSequence: the low 16 bits of the request header's ChannelSequence/Reserved field. */
export function channelSequenceOf (hdr: Smb2Header): number {
  return hdr.status & 0xffff
}

/**
 * Counts a request on `open` (3.x dialects). Throws STATUS_FILE_NOT_AVAILABLE for a request
 * that `modifies` the file and comes from a channel sequence the open has moved past, or that
 * replays while requests of an older sequence are in flight; a request that changes nothing is
 * let through uncounted then, as in Samba.
 */
export function countChannelSequence (open: Open, hdr: Smb2Header, modifies: boolean): ChannelSequenceCount | undefined {
  const seq = channelSequenceOf(hdr)
  let cmp = seq - open.channelSequence
  let wrap = 0
  if (cmp < 0) wrap = 1
  // Further apart than half the 16-bit space: the client's counter wrapped (or it is far behind).
  if (Math.abs(cmp) > 0x7fff) cmp = -cmp
  const replay = (hdr.flags & HeaderFlags.REPLAY_OPERATION) !== 0
  if (cmp === 0 && (!replay || open.outstandingPreRequestCount === 0)) {
    open.outstandingRequestCount++
  } else if (cmp > 0 && (!replay || open.outstandingPreRequestCount === 0)) {
    open.outstandingPreRequestCount += open.outstandingRequestCount
    open.outstandingRequestCount = 1
    open.channelSequence = seq
    open.channelGeneration += wrap
  } else if (modifies) {
    throw new NtStatusError(NtStatus.FILE_NOT_AVAILABLE, `ChannelSequence 0x${seq.toString(16)}${replay ? ' (replay)' : ''}: the open is at 0x${open.channelSequence.toString(16)}${open.outstandingPreRequestCount > 0 ? ` with ${open.outstandingPreRequestCount} older requests in flight` : ''}`)
  } else {
    return undefined
  }
  return { open, sequence: seq, generation: open.channelGeneration }
}

/** The request counted by `c` is answered: it leaves the count it was in. */
export function uncount (c: ChannelSequenceCount): void {
  const { open } = c
  if (open.channelSequence === c.sequence && open.channelGeneration === c.generation && open.outstandingRequestCount > 0) open.outstandingRequestCount--
  else if (open.outstandingPreRequestCount > 0) open.outstandingPreRequestCount--
}
