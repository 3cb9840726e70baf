// Python client drivers for interop tests: the Debian /usr/bin/python3 (the pyenv python on PATH
// lacks the Debian modules). Each driver in test/interop/py prints one JSON object on stdout.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { run } from './live.js'

export const PYTHON = '/usr/bin/python3'
export const PY_DIR = join(import.meta.dirname, '..', 'interop', 'py')

/** Why the tests using `module` cannot run here, or undefined when they can. */
export function pythonModuleMissing (module: string): string | undefined {
  const r = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' })
  if (r.error) return `${PYTHON} not runnable: ${r.error.message}`
  if (r.status !== 0) return `${PYTHON} cannot import ${module}: ${r.stderr.trim().split('\n').pop() ?? ''}`
  return undefined
}

export interface StepResult { ok: boolean, value?: any, error?: string, status?: string }

/** Runs test/interop/py/<script> and parses its JSON; throws with the driver's output if it is not JSON. */
export async function runPy<T = any> (script: string, args: string[], o: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<T> {
  const r = await run(PYTHON, [join(PY_DIR, script), ...args], o)
  try {
    return JSON.parse(r.stdout) as T
  } catch {
    throw new Error(`${script} exited ${r.code} without JSON:\n${r.stdout}\n${r.stderr}`)
  }
}
