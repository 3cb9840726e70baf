// The V8 heap of a process that serves requests: allocation-site pretenuring off.
//
// V8 samples the objects each allocation site (an object or array literal, a `new`) makes. When
// at a young-generation collection (a scavenge) 85% or more of a site's sampled objects are still
// alive, V8 decides the site makes long-lived objects, and the optimized code it compiles from
// then on allocates them straight in the old generation ("tenured"; node
// --trace-pretenuring-statistics prints these decisions).
//
// For a server that guess turns a passing fault into a lasting one. Stop 29 found the request
// path keeping 12-18% of each scavenge's young generation alive while it ran below TurboFan (a
// closure per request in processRequest; src/smb2/receive.ts says more). V8 sampled the path's
// sites as 100% alive then and tenured them. From then on every request's context, header, reply
// and their buffers were made in the old generation, where only a full collection clears them.
// Until one runs, the scavenger takes each of them as a root: what they point to survives too, is
// copied, then promoted. So 15-19% survived for the life of each worker, not only while it warmed
// up.
//
// Measured with that closure still there, smbtorture echo from 8 clients, 2 workers (Node 24, V8
// 13.6): scavenges took 3-19 ms, and each worker ran a full collection every 1.3-1.5 s. With
// pretenuring off, 0.0% survived once the path was optimized, and scavenges took 0.2-0.5 ms. Three
// alternating runs: 41.9k/46.8k/42.7k req/s against 47.3k/47.3k/43.9k. With the closure gone,
// this flag changes nothing measurable (echo and the small-file workload, survival 0.0-1.4%
// either way). It stays so that the next such fault costs a warm-up, not a worker's life.
//
// What a server keeps for long (sessions, opens, the share table) is allocated once; it is copied
// once or twice before promotion, at no cost that shows. Large buffers (READ, WRITE, the frame
// pool) live outside the V8 heap either way.
//
// Set at run time (node:v8 setFlagsFromString) before the request path has run, it does what
// `node --no-allocation-site-pretenuring` does (measured: the same survival either way), so every
// way of starting a server gets it, workers and the in-process server alike.
import { setFlagsFromString } from 'node:v8'

let applied = false

/** Allocation-site pretenuring off for the rest of this process's life (idempotent). */
export function tuneHeapForRequests (): void {
  if (applied) return
  applied = true
  setFlagsFromString('--no-allocation-site-pretenuring')
}
