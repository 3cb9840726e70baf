// The temporary share, smb.conf and password db every test server starts from, built in one
// place: live.ts (a server in this process), child-live.ts (a server in a child process) and
// mem-client.ts (a server driven in memory) differ only in how they run it.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashPassword, writePwdDb } from '../../src/config/pwddb.js'

/** The test user every test server knows, and its password. */
export const TEST_USER = 'tester'
export const TEST_PASSWORD = 'Secret-pass1'

export interface TestShareOptions {
  /** Extra [global] lines. */
  global?: string[]
  /** Extra lines of the [share] section (its path and `read only = no` are set for you). */
  shareLines?: string[]
  /** More shares: name → lines (a directory `<root>/<name>` is created and set as its path). */
  shares?: Record<string, string[]>
  /** More users beside TEST_USER: name → password. */
  users?: Record<string, string>
  /** Where the temp root goes; default os.tmpdir(). */
  tmpRoot?: string
}

export interface TestShare {
  /** The temp root: share directories, smb.conf, ksmbdpwd.db; removed by remove(). */
  root: string
  /** The [share] share's directory, `<root>/share`. */
  share: string
  user: string
  password: string
  /** Every user (TEST_USER and the extra ones) → password. */
  users: Record<string, string>
  /** The smb.conf text, also written to configPath. */
  configText: string
  configPath: string
  /** The password db (ksmbdpwd.db format) holding every user. */
  pwddbPath: string
  /** The users as the server's account map holds them (lower-case name → NT hash). */
  accounts: Map<string, Buffer>
  remove (): void
}

/**
 * A fresh temp root with `share/` (plus o.shares), an smb.conf naming them under
 * `netbios name = <netbiosName>` and a password db with TEST_USER and o.users.
 * @param kind names the temp dir (`smbts-<kind>-XXXXXX`)
 */
export function makeTestShare (kind: string, netbiosName: string, o: TestShareOptions = {}): TestShare {
  const root = mkdtempSync(join(o.tmpRoot ?? tmpdir(), `smbts-${kind}-`))
  const share = join(root, 'share')
  mkdirSync(share)
  const lines = [
    '[global]', `netbios name = ${netbiosName}`, 'workgroup = WORKGROUP', ...(o.global ?? []),
    '[share]', `path = ${share}`, 'read only = no', ...(o.shareLines ?? []),
  ]
  for (const [name, extra] of Object.entries(o.shares ?? {})) {
    const p = join(root, name)
    mkdirSync(p, { recursive: true })
    lines.push(`[${name}]`, `path = ${p}`, ...extra)
  }
  const configText = lines.join('\n') + '\n'
  const configPath = join(root, 'smb.conf')
  writeFileSync(configPath, configText)
  const users = { [TEST_USER]: TEST_PASSWORD, ...(o.users ?? {}) }
  const hashes = Object.entries(users).map(([u, p]) => [u, hashPassword(p)] as const)
  const pwddbPath = join(root, 'ksmbdpwd.db')
  writePwdDb(pwddbPath, new Map(hashes))
  return {
    root, share, user: TEST_USER, password: TEST_PASSWORD, users, configText, configPath, pwddbPath,
    accounts: new Map(hashes.map(([u, h]) => [u.toLowerCase(), h])),
    remove () { rmSync(root, { recursive: true, force: true }) },
  }
}
