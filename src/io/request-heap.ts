// The V8 heap of a process that serves requests: allocation-site pretenuring off.
//
// V8 samples the objects each allocation site (an object or array literal, a `new`) makes. When
// at a young-generation collection (a scavenge) 85% or more of a site's sampled objects are still
// alive, V8 decides the site makes long-lived objects, and the optimized code it compiles from
// then on allocates them straight in the old generation ("tenured"; node
// --trace-pretenuring-statistics prints these decisions).
//
// A server's request path meets that bar before it is optimized. While it still runs unoptimized
// (in the test's in-memory ECHO loop, its first ~16,000 requests), 12-18% of each scavenge's young generation
// survives, and the sites of the request path are sampled as 100% alive. Once TurboFan has
// compiled it, the same requests leave 0.0-0.3% (test/unit/io/request-heap.test.ts watches both
// phases) — unless the sites were tenured meanwhile. Then every request's context, header, reply
// and their buffers are made in the old generation, where only a full collection clears them.
// Until it runs, the scavenger takes each of them as a root: what they point to survives too, is
// copied, then promoted. The survival of the first phase stays for the life of the process.
//
// Measured on this project's machine (Node 24, V8 13.6), smbtorture echo from 8 clients, 2
// workers: 15-19% of each scavenge's young generation survived (2.4 MB of 11-13 MB), scavenges
// took 3-19 ms, and each worker ran a full collection every 1.3-1.5 s; with pretenuring off, 0.0%
// survived and scavenges took 0.2-0.5 ms. Three alternating runs: 41.9k/46.8k/42.7k req/s
// against 47.3k/47.3k/43.9k, server CPU per request 2-18% lower. The in-memory ECHO path
// (bench/echo-inproc.ts) ran 30% faster. What a server keeps for long (sessions, opens, the
// share table) is allocated once; it is copied once or twice before promotion, at no cost that
// shows. Large buffers (READ, WRITE, the frame pool) live outside the V8 heap either way.
//
// Set at run time (node:v8 setFlagsFromString) before the request path has run, it does what
// `node --no-allocation-site-pretenuring` does (measured: the same two phases either way), so every
// way of starting a server gets it, workers and the in-process server alike.
import { setFlagsFromString } from 'node:v8'

let applied = false

/** Allocation-site pretenuring off for the rest of this process's life (idempotent). */
export function tuneHeapForRequests (): void {
  if (applied) return
  applied = true
  setFlagsFromString('--no-allocation-site-pretenuring')
}
