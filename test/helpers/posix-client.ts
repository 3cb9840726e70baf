// A client of the SMB 3.1.1 POSIX extensions for tests (test/protocol/posix.test.ts over the
// in-memory server, test/interop/posix.test.ts over TCP): the negotiate context, CREATE with the
// POSIX create context, and readers of the POSIX structures (smb3_posix_cc_info).
import { Command, contextsOf, Ctx, Disposition, listContext, preauthContext, type MemClient, type Resp } from './mem-client.js'

export { contextsOf }

const H = 64
export const POSIX_CTX = 0x100
export const POSIX_ID = Buffer.from('93ad25509cb411e7b42383de968bcd7c', 'hex')

export function posixNegotiateContext (ids: Buffer[] = [POSIX_ID]): { type: number, data: Buffer } {
  return { type: POSIX_CTX, data: Buffer.concat(ids) }
}

/** NEGOTIATE (3.1.1, with the POSIX context unless `posix` is false), login and tree connect. */
export async function posixConnect<C extends MemClient> (c: C, posix = true): Promise<{ c: C, n: Resp }> {
  const contexts = [preauthContext(), listContext(Ctx.ENCRYPTION, [2, 1]), listContext(Ctx.SIGNING, [2, 1]), ...(posix ? [posixNegotiateContext()] : [])]
  const n = await c.negotiate({ dialects: [0x0311], contexts })
  const l = await c.login()
  if (l.last.status !== 0) throw new Error('login')
  if ((await c.treeConnect('share')).status !== 0) throw new Error('tree connect')
  return { c, n }
}

/** A CREATE request with the given contexts (name → data), each 8-aligned. */
export function createWith (name: string, o: { access?: number, disposition?: number, options?: number, contexts?: Array<[string, Buffer]> }): Buffer {
  const n = Buffer.from(name, 'utf16le')
  const ctxs = o.contexts ?? []
  let ctxLen = 0
  const placed = ctxs.map(([cn, d], i) => {
    const at = ctxLen
    const dataOff = (16 + cn.length + 7) & ~7
    const total = dataOff + d.length
    ctxLen += i === ctxs.length - 1 ? total : (total + 7) & ~7
    return { at, dataOff, cn, d }
  })
  const ctxOff = (56 + n.length + 7) & ~7
  const b = Buffer.alloc(ctxs.length > 0 ? ctxOff + ctxLen : 56 + Math.max(n.length, 1))
  b.writeUInt16LE(57, 0)
  b.writeUInt32LE(2, 4)
  b.writeUInt32LE((o.access ?? 0xc0010000) >>> 0, 24)
  b.writeUInt32LE(0x80, 28)
  b.writeUInt32LE(7, 32)
  b.writeUInt32LE(o.disposition ?? Disposition.OPEN_IF, 36)
  b.writeUInt32LE(o.options ?? 0, 40)
  b.writeUInt16LE(H + 56, 44); b.writeUInt16LE(n.length, 46)
  n.copy(b, 56)
  if (ctxs.length > 0) {
    b.writeUInt32LE(H + ctxOff, 48); b.writeUInt32LE(ctxLen, 52)
    placed.forEach((p, i) => {
      const at = ctxOff + p.at
      if (i < placed.length - 1) b.writeUInt32LE(placed[i + 1].at - p.at, at)
      b.writeUInt16LE(16, at + 4); b.writeUInt16LE(p.cn.length, at + 6)
      b.writeUInt16LE(p.dataOff, at + 10); b.writeUInt32LE(p.d.length, at + 12)
      b.write(p.cn, at + 16, 'latin1')
      p.d.copy(b, at + p.dataOff)
    })
  }
  return b
}

export const POSIX_NAME = POSIX_ID.toString('latin1')
export const modeCtx = (mode: number): [string, Buffer] => { const d = Buffer.alloc(4); d.writeUInt32LE(mode, 0); return [POSIX_NAME, d] }

/** A binary SID as S-1-... */
export function sidAt (b: Buffer, off: number): { sid: string, len: number } {
  const count = b[off + 1]
  const subs: number[] = []
  for (let i = 0; i < count; i++) subs.push(b.readUInt32LE(off + 8 + 4 * i))
  return { sid: `S-${b[off]}-${b.readUIntBE(off + 2, 6)}-${subs.join('-')}`, len: 8 + 4 * count }
}

/** smb3_posix_cc_info at `off`. */
export function ccInfo (b: Buffer, off: number): { nlinks: number, tag: number, mode: number, owner: string, group: string, end: number } {
  const o = sidAt(b, off + 12)
  const g = sidAt(b, off + 12 + o.len)
  return { nlinks: b.readUInt32LE(off), tag: b.readUInt32LE(off + 4), mode: b.readUInt32LE(off + 8), owner: o.sid, group: g.sid, end: off + 12 + o.len + g.len }
}

export async function posixOpen (c: MemClient, name: string, o: { mode?: number, access?: number, disposition?: number, options?: number } = {}): Promise<Resp> {
  return await c.request({ cmd: Command.CREATE, body: createWith(name, { ...o, contexts: [modeCtx(o.mode ?? 0o644)] }) })
}
