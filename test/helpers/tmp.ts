// Temporary directories for tests that are removed when the test file ends, whatever it left in
// them: a run leaves nothing behind in /tmp.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const made: string[] = []

/** A new directory `<tmp>/<prefix>XXXXXX`, removed with its contents at the end of this test file. */
export function tempDir (prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  if (made.length === 0) t.teardown(() => { for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true }) })
  made.push(dir)
  return dir
}
