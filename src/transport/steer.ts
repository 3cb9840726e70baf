// Loader for bpf/steer.bpf.o, the SK_REUSEPORT program that sends every
// connection of one client address to the same worker listener (ARCHITECTURE
// "Steering"). libbpf does the ELF/BTF work; we reach it through ffi-rs, so
// no addon is needed for this. Steering is a fast path, not a dependency:
// every failure is a SteeringError the caller can log before running without it.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { isIP } from 'node:net'
import { existsSync } from 'node:fs'
import type * as FfiRs from 'ffi-rs'

// ---------------------------------------------------------------------------
// Mirrors of bpf/steer.h (CONVENTIONS 13). test/native/steer.test.ts compiles
// a probe against the header and checks these numbers.

/** SMBTS_MAX_WORKERS: slots in smbts_workers. */
export const SMBTS_MAX_WORKERS = 64

/** struct smbts_steer_config: the program's .rodata tunables. */
export const SteerConfigLayout = {
  size: 8,
  nr_workers: { offset: 0, size: 4 },
  hash_seed: { offset: 4, size: 4 }
} as const

export interface SteerConfig { nrWorkers: number, hashSeed: number }

export function encodeSteerConfig (c: SteerConfig): Buffer {
  const b = Buffer.alloc(SteerConfigLayout.size)
  b.writeUInt32LE(c.nrWorkers >>> 0, SteerConfigLayout.nr_workers.offset)
  b.writeUInt32LE(c.hashSeed >>> 0, SteerConfigLayout.hash_seed.offset)
  return b
}

/** struct smbts_steer_stats: one per CPU in smbts_stats[0]. */
export const SteerStatsLayout = {
  size: 16,
  steered: { offset: 0, size: 8 },
  fallback: { offset: 8, size: 8 }
} as const

export interface SteerStats { steered: bigint, fallback: bigint }

export function decodeSteerStats (b: Buffer, off = 0): SteerStats {
  return {
    steered: b.readBigUInt64LE(off + SteerStatsLayout.steered.offset),
    fallback: b.readBigUInt64LE(off + SteerStatsLayout.fallback.offset)
  }
}

// ---------------------------------------------------------------------------
// The program's choice, computed in JS: same bytes, same hash, same pick.

/**
 * The source-address bytes the program hashes: 4 for IPv4 (including an
 * IPv4-mapped IPv6 address, since such a client's packets are IPv4 on the
 * wire), 16 for IPv6.
 */
export function steeringAddressBytes (address: string): Buffer {
  const v = isIP(address)
  if (v === 4) return Buffer.from(address.split('.').map(Number))
  if (v !== 6) throw new TypeError(`not an IP address: ${address}`)
  const bytes = parseIPv6(address)
  const mapped = bytes.subarray(0, 10).every(x => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff
  return mapped ? Buffer.from(bytes.subarray(12)) : bytes
}

// Input already passed isIP() === 6.
function parseIPv6 (address: string): Buffer {
  let s = address.split('%')[0]!
  const q = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s)
  if (q) {
    const [a, b, c, d] = q.slice(1).map(Number) as [number, number, number, number]
    s = s.slice(0, q.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16)
  }
  const [head, tail] = s.split('::') as [string, string | undefined]
  const hw = head === '' ? [] : head.split(':')
  const tw = tail === undefined || tail === '' ? [] : tail.split(':')
  const words = tail === undefined ? hw : [...hw, ...new Array<string>(8 - hw.length - tw.length).fill('0'), ...tw]
  const b = Buffer.alloc(16)
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2))
  return b
}

/** FNV-1a then the murmur3 finalizer, exactly as smbts_hash() in steer.bpf.c. */
export function steeringHash (addr: Uint8Array, seed = 0): number {
  let h = (2166136261 ^ seed) >>> 0
  for (const byte of addr) {
    h ^= byte
    h = Math.imul(h, 16777619) >>> 0
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b) >>> 0
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35) >>> 0
  h ^= h >>> 16
  return h >>> 0
}

/** The worker index the program picks for a client address: (hash * n) >> 32. */
export function steeringWorkerFor (address: string, workers: number, seed = 0): number {
  // hash < 2^32 and workers <= 64: the product is exact in a double.
  return Math.floor(steeringHash(steeringAddressBytes(address), seed) * workers / 2 ** 32)
}

// ---------------------------------------------------------------------------
// Errors (CONVENTIONS 6: stable codes).

export type SteeringErrorCode = 'SMBTS_ERR_BPF_LOAD' | 'SMBTS_ERR_BPF_ATTACH'

export class SteeringError extends Error {
  readonly code: SteeringErrorCode
  readonly errno: number | undefined
  constructor (code: SteeringErrorCode, message: string, errno?: number) {
    super(message)
    this.name = 'SteeringError'
    this.code = code
    this.errno = errno
  }
}

// ---------------------------------------------------------------------------
// The loader.

export interface Steering {
  /** Attach the program to the reuseport group of `listenFd` (once per group). */
  attach (listenFd: number): void
  /** Put worker `index`'s listener into slot `index` of smbts_workers. */
  setWorker (index: number, listenFd: number): void
  /** Sum of the per-CPU counters since load. */
  stats (): SteerStats
  /**
   * Drop our handles on the object. An attached program stays with its
   * reuseport group until the group's last listener closes.
   */
  close (): void
}

export interface SteeringOptions {
  /** Worker listeners to steer among, 1..SMBTS_MAX_WORKERS. */
  workers: number
  /** Defaults to steeringObjectPath(). */
  objectPath?: string
  /** Mixed into the address hash (default 0). */
  seed?: number
}

/** bpf/steer.bpf.o of this package; src/transport and dist/transport are both two levels down. */
export function steeringObjectPath (): string {
  return fileURLToPath(new URL('../../bpf/steer.bpf.o', import.meta.url))
}

const SOL_SOCKET = 1
const SO_ATTACH_REUSEPORT_EBPF = 52 // asm-generic/socket.h
const BPF_ANY = 0
const PROGRAM_NAME = 'smbts_steer'
const RODATA = '.rodata' // libbpf matches internal maps by section name

let ffi: typeof FfiRs | undefined
const LIBBPF = 'smbts_libbpf'
const LIBC = 'smbts_libc'

function ffiRs (): typeof FfiRs {
  if (ffi) return ffi
  let mod: typeof FfiRs
  try {
    mod = createRequire(import.meta.url)('ffi-rs') as typeof FfiRs
  } catch (e) {
    throw new SteeringError('SMBTS_ERR_BPF_LOAD', `BPF steering unavailable: cannot load ffi-rs (${(e as Error).message})`)
  }
  try {
    mod.open({ library: LIBBPF, path: 'libbpf.so.1' })
    mod.open({ library: LIBC, path: 'libc.so.6' })
  } catch (e) {
    throw new SteeringError('SMBTS_ERR_BPF_LOAD', `BPF steering unavailable: cannot open libbpf.so.1 (${(e as Error).message}); install libbpf1`)
  }
  ffi = mod
  return mod
}

type Ptr = FfiRs.JsExternal

/** Calls into libbpf/libc with the signatures below; errno-returning variants report it. */
class Native {
  private readonly f: typeof FfiRs
  constructor (f: typeof FfiRs) { this.f = f }

  private call<T> (library: string, funcName: string, retType: FfiRs.DataType, paramsType: FfiRs.DataType[], paramsValue: unknown[]): T {
    return this.f.load({ library, funcName, retType, paramsType, paramsValue } as FfiRs.FFIParams<FfiRs.DataType>) as T
  }

  private callErrno<T> (library: string, funcName: string, retType: FfiRs.DataType, paramsType: FfiRs.DataType[], paramsValue: unknown[]): { value: T, errno: number } {
    const r = this.f.load({ library, funcName, retType, paramsType, paramsValue, errno: true } as FfiRs.FFIParams<FfiRs.DataType, true>) as unknown as { value: T, errnoCode: number }
    return { value: r.value, errno: r.errnoCode }
  }

  isNull (p: Ptr): boolean { return this.f.isNullPointer(p) }

  /** NULL opts is passed as a zero 64-bit integer: same register, same bits. */
  objectOpenFile (path: string): { value: Ptr, errno: number } {
    const D = this.f.DataType
    return this.callErrno(LIBBPF, 'bpf_object__open_file', D.External, [D.String, D.I64], [path, 0])
  }

  objectLoad (obj: Ptr): number {
    const D = this.f.DataType
    return this.call(LIBBPF, 'bpf_object__load', D.I32, [D.External], [obj])
  }

  objectClose (obj: Ptr): void {
    const D = this.f.DataType
    this.call(LIBBPF, 'bpf_object__close', D.Void, [D.External], [obj])
  }

  findProgram (obj: Ptr, name: string): Ptr {
    const D = this.f.DataType
    return this.call(LIBBPF, 'bpf_object__find_program_by_name', D.External, [D.External, D.String], [obj, name])
  }

  programFd (prog: Ptr): number {
    const D = this.f.DataType
    return this.call(LIBBPF, 'bpf_program__fd', D.I32, [D.External], [prog])
  }

  findMap (obj: Ptr, name: string): Ptr {
    const D = this.f.DataType
    return this.call(LIBBPF, 'bpf_object__find_map_by_name', D.External, [D.External, D.String], [obj, name])
  }

  mapFd (map: Ptr): number {
    const D = this.f.DataType
    return this.call(LIBBPF, 'bpf_map__fd', D.I32, [D.External], [map])
  }

  mapSetInitialValue (map: Ptr, data: Buffer): number {
    const D = this.f.DataType
    return this.call(LIBBPF, 'bpf_map__set_initial_value', D.I32, [D.External, D.U8Array, D.U64], [map, data, data.length])
  }

  /** libbpf 1.x returns -errno. */
  mapUpdate (fd: number, key: Buffer, value: Buffer, flags: number): number {
    const D = this.f.DataType
    return this.call(LIBBPF, 'bpf_map_update_elem', D.I32, [D.I32, D.U8Array, D.U8Array, D.U64], [fd, key, value, flags])
  }

  /** Fills `value` in place; libbpf 1.x returns -errno. */
  mapLookup (fd: number, key: Buffer, value: Buffer): number {
    const D = this.f.DataType
    return this.call(LIBBPF, 'bpf_map_lookup_elem', D.I32, [D.I32, D.U8Array, D.U8Array], [fd, key, value])
  }

  possibleCpus (): number {
    const D = this.f.DataType
    return this.call(LIBBPF, 'libbpf_num_possible_cpus', D.I32, [], [])
  }

  setsockopt (fd: number, level: number, name: number, value: Buffer): { value: number, errno: number } {
    const D = this.f.DataType
    return this.callErrno(LIBC, 'setsockopt', D.I32, [D.I32, D.I32, D.I32, D.U8Array, D.I32], [fd, level, name, value, value.length])
  }
}

function errnoName (errno: number): string {
  const names: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 9: 'EBADF', 13: 'EACCES', 22: 'EINVAL', 7: 'E2BIG', 88: 'ENOTSOCK', 95: 'EOPNOTSUPP', 17: 'EEXIST', 16: 'EBUSY', 18: 'EXDEV' }
  return names[errno] ?? `errno ${errno}`
}

function permHint (errno: number): string {
  return errno === 1 || errno === 13 ? ' (needs root, or CAP_BPF + CAP_NET_ADMIN)' : ''
}

function u32 (n: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b }
function u64 (n: number): Buffer { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b }

/**
 * Open bpf/steer.bpf.o, write the tunables into .rodata, load it into the kernel.
 * Throws SteeringError('SMBTS_ERR_BPF_LOAD') when any of that is impossible.
 */
export function loadSteering (opts: SteeringOptions): Steering {
  const workers = opts.workers
  if (!Number.isInteger(workers) || workers < 1 || workers > SMBTS_MAX_WORKERS) {
    throw new RangeError(`workers must be an integer in 1..${SMBTS_MAX_WORKERS}, got ${workers}`)
  }
  const path = opts.objectPath ?? steeringObjectPath()
  const load = (msg: string, errno?: number): SteeringError =>
    new SteeringError('SMBTS_ERR_BPF_LOAD', `BPF steering unavailable: ${msg}`, errno)
  if (!existsSync(path)) throw load(`no object file at ${path} (build it with \`make -C bpf\`)`)

  const n = new Native(ffiRs())
  const opened = n.objectOpenFile(path)
  if (n.isNull(opened.value)) throw load(`libbpf cannot open ${path}: ${errnoName(opened.errno)}`, opened.errno)
  const obj = opened.value
  let closed = false
  const fail = (e: SteeringError): never => { n.objectClose(obj); closed = true; throw e }

  // Tunables before load (CONVENTIONS 13): .rodata is frozen once loaded.
  const rodata = n.findMap(obj, RODATA)
  if (n.isNull(rodata)) fail(load(`${path} has no ${RODATA} (struct smbts_steer_config)`))
  const cfg = encodeSteerConfig({ nrWorkers: workers, hashSeed: opts.seed ?? 0 })
  const setRc = n.mapSetInitialValue(rodata, cfg)
  if (setRc !== 0) fail(load(`${RODATA} of ${path} is not struct smbts_steer_config (${cfg.length} bytes): ${errnoName(-setRc)}`, -setRc))

  const loadRc = n.objectLoad(obj)
  if (loadRc !== 0) fail(load(`the kernel refused ${path}: ${errnoName(-loadRc)}${permHint(-loadRc)}`, -loadRc))

  const prog = n.findProgram(obj, PROGRAM_NAME)
  if (n.isNull(prog)) fail(load(`${path} has no program ${PROGRAM_NAME}`))
  const progFd = n.programFd(prog)
  const mapFdOf = (name: string): number => {
    const m = n.findMap(obj, name)
    if (n.isNull(m)) fail(load(`${path} has no map ${name}`))
    const fd = n.mapFd(m)
    if (fd < 0) fail(load(`map ${name} was not created: ${errnoName(-fd)}`, -fd))
    return fd
  }
  const workersFd = mapFdOf('smbts_workers')
  const statsFd = mapFdOf('smbts_stats')
  const cpus = n.possibleCpus()
  if (progFd < 0 || cpus < 1) fail(load(`libbpf reports prog fd ${progFd}, ${cpus} CPUs`))

  const live = (): void => {
    if (closed) throw new SteeringError('SMBTS_ERR_BPF_ATTACH', 'BPF steering already closed')
  }
  const attachErr = (msg: string, errno: number): SteeringError =>
    new SteeringError('SMBTS_ERR_BPF_ATTACH', `${msg}: ${errnoName(errno)}${permHint(errno)}`, errno)

  return {
    attach (listenFd: number): void {
      live()
      const r = n.setsockopt(listenFd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, u32(progFd))
      if (r.value !== 0) throw attachErr(`cannot attach the steering program to fd ${listenFd} (is it a SO_REUSEPORT socket?)`, r.errno)
    },
    setWorker (index: number, listenFd: number): void {
      live()
      if (!Number.isInteger(index) || index < 0 || index >= workers) {
        throw new RangeError(`worker index must be in 0..${workers - 1}, got ${index}`)
      }
      // REUSEPORT_SOCKARRAY takes the fd as its u64 value; the kernel stores the socket.
      const rc = n.mapUpdate(workersFd, u32(index), u64(listenFd), BPF_ANY)
      if (rc !== 0) throw attachErr(`cannot put fd ${listenFd} in smbts_workers[${index}] (must be a listening SO_REUSEPORT TCP socket)`, -rc)
    },
    stats (): SteerStats {
      live()
      // A per-CPU lookup returns one value per possible CPU, each rounded up to 8 bytes.
      const stride = Math.ceil(SteerStatsLayout.size / 8) * 8
      const all = Buffer.alloc(stride * cpus)
      const rc = n.mapLookup(statsFd, u32(0), all)
      if (rc !== 0) throw attachErr('cannot read smbts_stats', -rc)
      const sum: SteerStats = { steered: 0n, fallback: 0n }
      for (let c = 0; c < cpus; c++) {
        const s = decodeSteerStats(all, c * stride)
        sum.steered += s.steered
        sum.fallback += s.fallback
      }
      return sum
    },
    close (): void {
      if (closed) return
      closed = true
      n.objectClose(obj)
    }
  }
}
