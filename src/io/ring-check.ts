// The ring's start-up self-check (docs/io_uring.md): before the server trusts a ring
// configuration, it measures the path every request takes, a completion arriving while the
// loop sleeps, with a client in another thread (native wakeProbe) ping-ponging one byte a few
// hundred times. A configuration whose wake-ups come late (a kernel build that announces
// completions an RCU grace period late did: 4-16 ms each) is not used; the next one is tried,
// and at the end the server falls back to node:net. What was measured and chosen is logged.
import { native } from './native.js'
import { Ring, ringSetupFlags } from './ring.js'

/** The ring configurations the server may run, best first. */
export const RING_KINDS = ['defer', 'plain'] as const
export type RingKind = (typeof RING_KINDS)[number]

export const RING_KIND_LABEL: Record<RingKind, string> = {
  defer: 'DEFER_TASKRUN ring (the loop sleeps in io_uring_enter)',
  plain: 'plain ring (its fd polled by the loop)',
}

export interface WakeCheck {
  kind: RingKind;
  /** Round trips completed, of `WAKE_CHECK.rounds`. */
  rounds: number;
  medianUs: number;
  p90Us: number;
  /** Wall time of the whole check. */
  ms: number;
  stalled: boolean;
}

/**
 * 200 round trips take ~10 ms here (30-60 µs each); a stall of 4 ms each would need 800 ms, so
 * the check gives up at 600 ms. A median round trip over 2 ms is a stall too: an order of
 * magnitude over a loaded machine's, half of the smallest stall measured.
 */
export const WAKE_CHECK = { rounds: 200, budgetMs: 600, stallMedianUs: 2000 }

function quantile (sorted: number[], q: number): number {
  return sorted.length === 0 ? Infinity : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Measures `ring`'s wake-up path with a client in another thread (a TCP loopback pair). */
export async function checkRingWakeups (ring: Ring, kind: RingKind, o = WAKE_CHECK): Promise<WakeCheck> {
  const start = performance.now()
  const fd = native.wakeProbe(o.rounds, o.budgetMs)
  const buf = Buffer.alloc(1)
  const times: number[] = []
  let over = false // set when the check is over: the fd is closed, no op may name it again
  const loop = async (): Promise<void> => {
    let sent = start
    for (;;) {
      const n = await ring.recv(fd, buf, 0, 1)
      if (n <= 0 || over) break // the peer closed: done, or out of time
      const now = performance.now()
      times.push(now - sent)
      sent = performance.now()
      if (over || (await ring.send(fd, buf, 0, 1)) !== 1) break
    }
  }
  // The peer closes its end by the budget, which ends the loop; a ring that never delivers that
  // either is given up a second later (the caller closes the ring, cancelling the recv).
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      loop().catch(() => { /* a failed recv/send ends the check: what was measured counts */ }),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, o.budgetMs + 1000) }),
    ])
  } finally {
    over = true
    clearTimeout(timer)
    native.closeNow(fd)
  }
  // The first interval includes starting the peer's thread: leave it out.
  const rts = times.slice(1).map((ms) => ms * 1000).sort((a, b) => a - b)
  const medianUs = quantile(rts, 0.5)
  return {
    kind,
    rounds: times.length,
    medianUs: Math.round(medianUs),
    p90Us: Math.round(quantile(rts, 0.9)),
    ms: Math.round(performance.now() - start),
    stalled: times.length < o.rounds || medianUs > o.stallMedianUs,
  }
}

export interface CheckedRing {
  ring?: Ring;
  kind?: RingKind;
  checks: WakeCheck[];
}

export interface OpenCheckedRingOptions {
  entries: number;
  /** The configurations to try, in order (default RING_KINDS). */
  kinds?: readonly RingKind[];
  /** Test hook: these configurations deliver their completions `stallMs` late (RingOptions.stallMs). */
  stall?: { kinds: readonly RingKind[]; ms: number };
  say(level: 'info' | 'warn', line: string): void;
}

/**
 * The best ring configuration that passes the self-check, set up and ready (busy polling off, as
 * a new ring is); none passing: no ring, and the caller runs the fallback.
 */
export async function openCheckedRing (o: OpenCheckedRingOptions): Promise<CheckedRing> {
  const F = ringSetupFlags()
  const kinds = o.kinds ?? RING_KINDS
  const checks: WakeCheck[] = []
  for (const [i, kind] of kinds.entries()) {
    const label = RING_KIND_LABEL[kind]
    const next = i + 1 < kinds.length ? `trying a ${RING_KIND_LABEL[kinds[i + 1]!]}` : 'no ring left to try'
    let ring: Ring
    try {
      const flags = kind === 'defer' ? F.default | F.IORING_SETUP_DEFER_TASKRUN : F.default
      const stallMs = o.stall?.kinds.includes(kind) === true ? o.stall.ms : 0
      ring = Ring.create(o.entries, { flags, stallMs })
    } catch (e) {
      o.say('info', `io_uring ${label} unavailable (${(e as Error).message}): ${next}`)
      continue
    }
    if (kind === 'defer' && (ring.counters().setupFlags & F.IORING_SETUP_DEFER_TASKRUN) === 0) {
      o.say('info', `io_uring ${label} unavailable (this thread already sleeps in another ring): ${next}`)
      await ring.close()
      continue
    }
    const c = await checkRingWakeups(ring, kind)
    checks.push(c)
    const measured = `${c.rounds} of ${WAKE_CHECK.rounds} round trips with a client thread in ${c.ms} ms, median ${c.medianUs} µs, p90 ${c.p90Us} µs`
    if (!c.stalled) {
      o.say('info', `io_uring self-check: ${label}: ${measured}: chosen`)
      return { ring, kind, checks }
    }
    o.say('warn', `io_uring self-check: ${label} stalls (${measured}; a sound one takes well under ${WAKE_CHECK.stallMedianUs} µs): ${next}`)
    await ring.close()
  }
  return { checks }
}
