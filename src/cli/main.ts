#!/usr/bin/env node
// The smbts command line: one commander program, one file per command. Every failure is one
// line `smbts: <message>` on standard error and a non-zero exit status.
import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { Command } from 'commander'
import { registerAddShare } from './addshare.js'
import { registerAddUser } from './adduser.js'
import { registerControl } from './control.js'
import { errorMessage, processIO, type CliIO } from './io.js'
import { registerStart } from './start.js'
import { registerStatus } from './status.js'
import { registerWorker } from './worker.js'
import { smbtsVersion } from './version.js'

export function buildProgram (io: CliIO): Command {
  const program = new Command('smbts')
  program
    .description('SMB2/3 file server for Linux')
    .version(smbtsVersion(), '-V, --version', 'print the version')
    .configureOutput({
      writeOut: (s) => { process.stdout.write(s) },
      writeErr: (s) => { process.stderr.write(s) },
      outputError: (s, write) => { write('smbts: ' + s.replace(/^error: /, '')) }
    })
  registerStart(program, io)
  registerAddUser(program, io)
  registerAddShare(program, io)
  registerControl(program, io)
  registerStatus(program, io)
  registerWorker(program, io)
  return program
}

export async function main (argv: string[], io: CliIO = processIO()): Promise<number> {
  const program = buildProgram(io)
  try {
    await program.parseAsync(argv)
    return 0
  } catch (e) {
    io.err(`smbts: ${errorMessage(e)}`)
    return 1
  }
}

// run only as the program itself, not when imported (tests import buildProgram)
const entry = process.argv[1]
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  process.exitCode = await main(process.argv)
}
