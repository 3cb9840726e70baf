// The questions the RPC process asks the data plane (ASK/ANSWER in src/rpc/ipc-wire.ts), both
// ends: `askingEnv` is the RpcEnv the services see in the RPC process, each call one question;
// `answerQuestion` is the data plane's side, which checks each question's shape before it asks
// its own RpcEnv (the RPC process is not trusted) and sends back plain data.
import type { Account, DomainUser, RpcEnv, RpcServerInfo, RpcShare } from './service.js'

export type Question = { q: 'server' } | { q: 'shares' } | { q: 'users' } | { q: 'lookupNames', names: string[] } | { q: 'lookupSids', sids: string[] }

const MAX_LIST = 1000
/** Longest name or SID string a look-up question may carry. */
const MAX_NAME = 512

/** Not a question this side answers, or not of its shape. */
export class QuestionError extends Error {
  readonly code = 'SMBTS_ERR_RPC_QUESTION'
  constructor (message: string) {
    super(message)
    this.name = 'QuestionError'
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The data plane's side: the answer to `q` (plain JSON data), or a QuestionError. */
export async function answerQuestion (env: RpcEnv, q: unknown): Promise<unknown> {
  if (!isObj(q) || typeof q.q !== 'string') throw new QuestionError('a question is an object with a string `q`')
  switch (q.q) {
    case 'server': return await env.server()
    case 'shares': return await env.shares()
    case 'users': return await env.users()
    case 'lookupNames': return await env.lookupNames(strings(q.names, 'names'))
    case 'lookupSids': return await env.lookupSids(strings(q.sids, 'sids'))
    default: throw new QuestionError(`unknown question ${JSON.stringify(q.q).slice(0, 40)}`)
  }
}

/** A question's list of names or SIDs: at most MAX_LIST strings of at most MAX_NAME characters. */
function strings (v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > MAX_LIST || !v.every(x => typeof x === 'string' && x.length <= MAX_NAME)) {
    throw new QuestionError(`${what}: a list of at most ${MAX_LIST} strings of at most ${MAX_NAME} characters`)
  }
  return v as string[]
}

// ---- the RPC process's side: answers checked before the services see them ----

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new QuestionError(`${what}: not a string`)
  return v
}
const num = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new QuestionError(`${what}: not a number`)
  return v
}
const bool = (v: unknown, what: string): boolean => {
  if (typeof v !== 'boolean') throw new QuestionError(`${what}: not a boolean`)
  return v
}
const list = (v: unknown, what: string): unknown[] => {
  if (!Array.isArray(v) || v.length > MAX_LIST) throw new QuestionError(`${what}: not a list of at most ${MAX_LIST}`)
  return v
}
const obj = (v: unknown, what: string): Record<string, unknown> => {
  if (!isObj(v)) throw new QuestionError(`${what}: not an object`)
  return v
}

function serverInfo (v: unknown): RpcServerInfo {
  const o = obj(v, 'server')
  return { netbiosName: str(o.netbiosName, 'netbiosName'), workgroup: str(o.workgroup, 'workgroup'), serverString: str(o.serverString, 'serverString'), domainSid: str(o.domainSid, 'domainSid') }
}

function account (v: unknown): Account | null {
  if (v === null) return null
  const o = obj(v, 'account')
  return { sid: str(o.sid, 'sid'), name: str(o.name, 'name'), domain: str(o.domain, 'domain'), domainSid: str(o.domainSid, 'domainSid'), type: num(o.type, 'type') }
}

function user (v: unknown): DomainUser {
  const o = obj(v, 'user')
  return {
    rid: num(o.rid, 'rid'),
    name: str(o.name, 'name'),
    fullName: str(o.fullName, 'fullName'),
    primaryGroupRid: num(o.primaryGroupRid, 'primaryGroupRid'),
    ...(o.uid !== undefined ? { uid: num(o.uid, 'uid') } : {}),
  }
}

/** A look-up's answer: exactly one entry per item asked. */
function accounts (v: unknown, n: number): Array<Account | null> {
  const l = list(v, 'accounts')
  if (l.length !== n) throw new QuestionError(`asked for ${n}, answered ${l.length}`)
  return l.map(account)
}

function share (v: unknown): RpcShare {
  const o = obj(v, 'share')
  return {
    name: str(o.name, 'share name'),
    type: num(o.type, 'share type'),
    comment: str(o.comment, 'comment'),
    path: str(o.path, 'path'),
    browseable: bool(o.browseable, 'browseable'),
    available: bool(o.available, 'available'),
    maxUses: num(o.maxUses, 'maxUses'),
    currentUses: num(o.currentUses, 'currentUses'),
  }
}

/** The RpcEnv of the RPC process: `ask` sends a question and resolves with the raw answer. */
export function askingEnv (ask: (q: Question) => Promise<unknown>): RpcEnv {
  return {
    server: async () => serverInfo(await ask({ q: 'server' })),
    shares: async () => list(await ask({ q: 'shares' }), 'shares').map(share),
    users: async () => list(await ask({ q: 'users' }), 'users').map(user),
    lookupNames: async (names) => accounts(await ask({ q: 'lookupNames', names }), names.length),
    lookupSids: async (sids) => accounts(await ask({ q: 'lookupSids', sids }), sids.length),
  }
}
