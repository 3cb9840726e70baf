// The temporary share, smb.conf and password db every test server starts from, built in one
// place: live.ts (a server in this process), child-live.ts (a server in a child process) and
// mem-client.ts (a server driven in memory) differ only in how they run it.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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

/** What a test share is made of, for a root of the caller's (nothing made anywhere). */
export interface TestShareLayout {
  share: string
  /** Every share directory to make: `<root>/share` and `<root>/<name>` of o.shares. */
  dirs: string[]
  users: Record<string, string>
  configText: string
  hashes: Array<readonly [string, Buffer]>
  /** The users as the server's account map holds them (lower-case name → NT hash). */
  accounts: Map<string, Buffer>
}

/** The smb.conf naming `<root>/share` (plus o.shares) and the users, for any root. */
export function testShareLayout (root: string, netbiosName: string, o: TestShareOptions = {}): TestShareLayout {
  const share = join(root, 'share')
  const dirs = [share]
  const lines = [
    '[global]', `netbios name = ${netbiosName}`, 'workgroup = WORKGROUP', ...(o.global ?? []),
    '[share]', `path = ${share}`, 'read only = no', ...(o.shareLines ?? []),
  ]
  for (const [name, extra] of Object.entries(o.shares ?? {})) {
    const p = join(root, name)
    dirs.push(p)
    lines.push(`[${name}]`, `path = ${p}`, ...extra)
  }
  const users = { [TEST_USER]: TEST_PASSWORD, ...(o.users ?? {}) }
  const hashes = Object.entries(users).map(([u, p]) => [u, hashPassword(p)] as const)
  return { share, dirs, users, configText: lines.join('\n') + '\n', hashes, accounts: new Map(hashes.map(([u, h]) => [u.toLowerCase(), h])) }
}

/**
 * A fresh temp root with `share/` (plus o.shares), an smb.conf naming them under
 * `netbios name = <netbiosName>` and a password db with TEST_USER and o.users.
 * @param kind names the temp dir (`smbts-<kind>-XXXXXX`)
 */
export function makeTestShare (kind: string, netbiosName: string, o: TestShareOptions = {}): TestShare {
  const root = mkdtempSync(join(o.tmpRoot ?? tmpdir(), `smbts-${kind}-`))
  const { share, dirs, users, configText, hashes, accounts } = testShareLayout(root, netbiosName, o)
  for (const d of dirs) mkdirSync(d, { recursive: true })
  const configPath = join(root, 'smb.conf')
  writeFileSync(configPath, configText)
  const pwddbPath = join(root, 'ksmbdpwd.db')
  writePwdDb(pwddbPath, new Map(hashes))
  return {
    root, share, user: TEST_USER, password: TEST_PASSWORD, users, configText, configPath, pwddbPath, accounts,
    remove () { detachMountsUnder(root); rmSync(root, { recursive: true, force: true }) },
  }
}

/**
 * Detaches what is mounted under `root` (a server's control mount, --control-dir inside the
 * share's temp dir, still there when a test removes the dir before its server is gone), so the
 * removal does not walk into it.
 */
function detachMountsUnder (root: string): void {
  let info: string
  try { info = readFileSync('/proc/self/mountinfo', 'utf8') } catch { return }
  for (const line of info.split('\n')) {
    const point = line.split(' ')[4]
    if (point !== undefined && point.startsWith(root + '/')) spawnSync('umount', ['-l', point])
  }
}
