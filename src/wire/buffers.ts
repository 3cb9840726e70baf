// Buffers for what the server encodes per request.

/**
 * A zero-filled buffer for a response header or body: a slice of Node's shared pool (as
 * Buffer.allocUnsafe) zeroed here, where Buffer.alloc makes a new ArrayBuffer every call, which
 * costs more than the rest of an ECHO's encoding. For short-lived buffers only: nobody may
 * detach (ArrayBuffer.transfer) or keep the pool's memory through one of them.
 */
export function zeroed (len: number): Buffer {
  return Buffer.allocUnsafe(len).fill(0)
}
