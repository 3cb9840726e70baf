// MS-SMB2 leases on the wire: the RqLs create context (2.2.13.2.8 v1, 2.2.13.2.10 v2) and its
// response (2.2.14.2.10/11), the Lease Break Notification (2.2.23.2), Acknowledgment (2.2.24.2)
// and Response (2.2.25.2).
import { zeroed } from '../../wire/buffers.js'

/** MS-SMB2 2.2.13.2: the name of the lease request and response create contexts. */
export const LEASE_CONTEXT_NAME = 'RqLs'
const V1_BYTES = 32
const V2_BYTES = 52

export interface LeaseContext {
  /** 16 bytes. */
  leaseKey: Buffer
  leaseState: number
  leaseFlags: number
  /** 2 for the 52-byte v2 layout (with ParentLeaseKey and Epoch), else 1. */
  version: number
  /** 16 bytes (v2). */
  parentLeaseKey?: Buffer
  epoch: number
}

/** The request context's fields; undefined when its data is neither 32 nor 52 bytes long. */
export function decodeLeaseContext (d: Buffer, v2Allowed: boolean): LeaseContext | undefined {
  if (d.length >= V2_BYTES && v2Allowed) {
    return {
      leaseKey: d.subarray(0, 16), leaseState: d.readUInt32LE(16), leaseFlags: d.readUInt32LE(20), version: 2,
      parentLeaseKey: d.subarray(32, 48), epoch: d.readUInt16LE(48),
    }
  }
  if (d.length < V1_BYTES) return undefined
  return { leaseKey: d.subarray(0, 16), leaseState: d.readUInt32LE(16), leaseFlags: d.readUInt32LE(20), version: 1, epoch: 0 }
}

/** The response context's data, in the request's version (LeaseDuration 0). */
export function encodeLeaseContext (c: LeaseContext): Buffer {
  const d = zeroed(c.version === 2 ? V2_BYTES : V1_BYTES)
  c.leaseKey.copy(d, 0, 0, 16)
  d.writeUInt32LE(c.leaseState >>> 0, 16)
  d.writeUInt32LE(c.leaseFlags >>> 0, 20)
  if (c.version === 2) {
    c.parentLeaseKey?.copy(d, 32, 0, 16)
    d.writeUInt16LE(c.epoch & 0xffff, 48)
  }
  return d
}

export const LEASE_BREAK_NOTIFICATION_SIZE = 44
export const LEASE_BREAK_ACK_SIZE = 36

export interface LeaseBreakNotification {
  newEpoch: number
  flags: number
  leaseKey: Buffer
  currentLeaseState: number
  newLeaseState: number
}

/** 2.2.23.2 (BreakReason, AccessMaskHint, ShareMaskHint 0). */
export function encodeLeaseBreakNotification (n: LeaseBreakNotification): Buffer {
  const b = zeroed(LEASE_BREAK_NOTIFICATION_SIZE)
  b.writeUInt16LE(LEASE_BREAK_NOTIFICATION_SIZE, 0)
  b.writeUInt16LE(n.newEpoch & 0xffff, 2)
  b.writeUInt32LE(n.flags >>> 0, 4)
  n.leaseKey.copy(b, 8, 0, 16)
  b.writeUInt32LE(n.currentLeaseState >>> 0, 24)
  b.writeUInt32LE(n.newLeaseState >>> 0, 28)
  return b
}

export interface LeaseBreakAck { flags: number, leaseKey: Buffer, leaseState: number }

/** 2.2.24.2; the dispatcher has checked StructureSize 36 and the 36 bytes. */
export function decodeLeaseBreakAck (body: Buffer): LeaseBreakAck {
  return { flags: body.readUInt32LE(4), leaseKey: body.subarray(8, 24), leaseState: body.readUInt32LE(24) }
}

/** 2.2.25.2: the acknowledgment's shape, LeaseDuration 0. */
export function encodeLeaseBreakResponse (leaseKey: Buffer, leaseState: number): Buffer {
  const b = zeroed(LEASE_BREAK_ACK_SIZE)
  b.writeUInt16LE(LEASE_BREAK_ACK_SIZE, 0)
  leaseKey.copy(b, 8, 0, 16)
  b.writeUInt32LE(leaseState >>> 0, 24)
  return b
}
