import { readFileSync } from 'node:fs'

/** The version in package.json (two levels up from src/cli and from dist/cli alike). */
export function smbtsVersion (): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}
