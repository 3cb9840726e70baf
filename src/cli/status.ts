// `smbts status [--json]`: what the server holds, as Samba's smbstatus shows it — read from the
// control mount's status.json (the server renders it; this only prints). --json prints the
// document as is (smbstatus -j's shape); without it, three tables: sessions, shares, open files.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { DEFAULT_CONTROL_DIR } from '../config/paths.js'
import { CliError, type CliIO } from './io.js'

interface StatusDoc {
  sessions: Record<string, { session_id: string, username: string, remote_machine: string, session_dialect: string, encryption: { cipher: string, degree: string }, signing: { cipher: string, degree: string } }>
  tcons: Record<string, { service: string, session_id: string, machine: string }>
  open_files: Record<string, { service_path: string, filename: string, opens: Record<string, { username: string, sharemode: { text: string }, access_mask: { hex: string }, oplock: { text: string }, machine: string }> }>
}

function table (rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  return rows.map(r => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())
}

export function renderStatusText (doc: StatusDoc): string[] {
  const out: string[] = []
  out.push(...table([['Session', 'Username', 'Machine', 'Protocol Version', 'Encryption', 'Signing'],
    ...Object.values(doc.sessions).map(s => [s.session_id, s.username, s.remote_machine, s.session_dialect,
      s.encryption.cipher === '' ? '-' : s.encryption.cipher, s.signing.cipher === '' ? '-' : `${s.signing.cipher} (${s.signing.degree})`])]))
  out.push('')
  out.push(...table([['Service', 'Session', 'Machine'], ...Object.values(doc.tcons).map(t => [t.service, t.session_id, t.machine])]))
  out.push('')
  const files: string[][] = [['Path', 'User', 'DenyMode', 'Access', 'Oplock', 'Machine']]
  for (const [path, f] of Object.entries(doc.open_files)) {
    for (const o of Object.values(f.opens)) files.push([path, o.username, o.sharemode.text, o.access_mask.hex, o.oplock.text, o.machine])
  }
  out.push(...table(files))
  return out
}

export function runStatus (o: { controlDir: string, json: boolean }, io: CliIO): void {
  const file = join(o.controlDir, 'status.json')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`no ${file}: is the server running, with its control mount at ${o.controlDir}?`)
    throw new CliError(`${file}: ${(e as Error).message}`)
  }
  if (o.json) { io.out(text.replace(/\n$/, '')); return }
  for (const l of renderStatusText(JSON.parse(text) as StatusDoc)) io.out(l)
}

export function registerStatus (program: Command, io: CliIO): void {
  program.command('status')
    .description('sessions, shares in use and open files of the running server (as smbstatus)')
    .option('-j, --json', 'print the JSON document (smbstatus -j\'s shape)')
    .option('--control-dir <dir>', 'where the control mount is', DEFAULT_CONTROL_DIR)
    .action((o: { json?: boolean, controlDir: string }) => { runStatus({ controlDir: o.controlDir, json: o.json === true }, io) })
}
