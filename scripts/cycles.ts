// Import cycles among the TypeScript files of a folder (default: src): exits 1 and prints each
// cycle found, 0 when there is none. Every import counts, `import type` and `export ... from`
// included (as `madge --circular` counts them): a type-only cycle is still two files that cannot
// be read, moved or tested apart. Uses the TypeScript compiler's import scanner, no dependency.
//
//   node scripts/cycles.ts [DIR]        (npm run cycles)
import ts from 'typescript'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const root = resolve(process.argv[2] ?? 'src')

function tsFiles (dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) tsFiles(p, out)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** A relative specifier ('./x.js', '../y') to the file it names, when that file is ours. */
function resolveImport (from: string, spec: string, ours: Set<string>): string | undefined {
  if (!spec.startsWith('.')) return undefined
  const base = resolve(dirname(from), spec)
  const candidates = [base.replace(/\.(m|c)?js$/, '.$1ts'), base, `${base}.ts`, join(base, 'index.ts')]
  return candidates.find(c => ours.has(c))
}

const files = tsFiles(root).sort()
const ours = new Set(files)
const edges = new Map<string, string[]>()
for (const f of files) {
  const { importedFiles } = ts.preProcessFile(readFileSync(f, 'utf8'), true, true)
  const to = new Set<string>()
  for (const { fileName } of importedFiles) {
    const r = resolveImport(f, fileName, ours)
    if (r !== undefined) to.add(r)
  }
  edges.set(f, [...to].sort())
}

// Tarjan's strongly connected components: every cycle lies inside one with more than one file
// (or is a file importing itself).
const index = new Map<string, number>()
const low = new Map<string, number>()
const onStack = new Set<string>()
const stack: string[] = []
const components: string[][] = []
let next = 0
function visit (v: string): void {
  index.set(v, next); low.set(v, next); next++
  stack.push(v); onStack.add(v)
  for (const w of edges.get(v)!) {
    if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
  }
  if (low.get(v) === index.get(v)) {
    const c: string[] = []
    let w: string
    do { w = stack.pop()!; onStack.delete(w); c.push(w) } while (w !== v)
    if (c.length > 1 || edges.get(v)!.includes(v)) components.push(c)
  }
}
for (const f of files) if (!index.has(f)) visit(f)

/** One shortest cycle through `start` inside its component, for the report. */
function cycleThrough (start: string, members: Set<string>): string[] {
  const prev = new Map<string, string>()
  const queue = [start]
  while (queue.length > 0) {
    const v = queue.shift()!
    for (const w of edges.get(v)!) {
      if (!members.has(w)) continue
      if (w === start) {
        const path = [v]
        while (path[0] !== start) path.unshift(prev.get(path[0])!)
        return path
      }
      if (!prev.has(w)) { prev.set(w, v); queue.push(w) }
    }
  }
  return [start]
}

const name = (f: string): string => relative(root, f)
if (components.length === 0) {
  console.log(`no import cycle among ${files.length} files in ${relative(process.cwd(), root) || '.'}`)
} else {
  for (const c of components) {
    const members = new Set(c)
    console.log(`cycle among ${c.length} file(s): ${c.map(name).sort().join(', ')}`)
    const seen = new Set<string>()
    for (const f of [...c].sort()) {
      const cycle = cycleThrough(f, members)
      const key = [...cycle].sort().join()
      if (seen.has(key)) continue
      seen.add(key)
      console.log(`  ${[...cycle, cycle[0]].map(name).join(' > ')}`)
    }
  }
  process.exitCode = 1
}
