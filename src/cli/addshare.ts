// `smbts addshare`: add, update or delete a share section of the configuration file, as
// ksmbd.addshare does, but keeping the rest of the file as it is (see config/writer.ts).
// Every `-o "key = value"` is checked against the parameter table before anything is written,
// and the edited file must load before it replaces the old one.
import { existsSync, readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { Option } from 'commander'
import { parseConfigText, shareNameProblem } from '../config/config.js'
import { DEFAULT_CONFIG_PATH, DEFAULT_LOCK_PATH } from '../config/paths.js'
import { checkParam, lookupGlobalParam, lookupShareParam } from '../config/params.js'
import { addShareSection, deleteShareSection, hasShareSection, updateShareSection, writeFileAtomic } from '../config/writer.js'
import { CliError, errorMessage, type CliIO } from './io.js'
import { notifyServer } from './pidfile.js'

export type ShareMode = 'add' | 'update' | 'delete'

export interface AddShareArgs {
  share: string
  mode: ShareMode
  config: string
  /** `key = value` strings */
  options: string[]
  pidFile?: string
}

/** Splits and checks `key = value`; returns [key as given, value]. */
export function parseShareOption (opt: string): [string, string] {
  const eq = opt.indexOf('=')
  if (eq <= 0) throw new CliError(`option '${opt}' is not of the form 'key = value'`)
  const key = opt.slice(0, eq).trim()
  const value = opt.slice(eq + 1).trim()
  const match = lookupShareParam(key)
  if (match === undefined) {
    if (lookupGlobalParam(key) !== undefined) throw new CliError(`'${key}' is a global parameter; addshare sets share parameters only`)
    throw new CliError(`unknown share parameter '${key}'`)
  }
  if (value.includes('\n')) throw new CliError(`the value of '${key}' contains a newline`)
  const r = checkParam(match, value)
  if (!r.ok) throw new CliError(r.error)
  return [key, value]
}

export function runAddShare (args: AddShareArgs, io: CliIO): void {
  const nameProblem = shareNameProblem(args.share)
  if (nameProblem !== undefined) throw new CliError(nameProblem)
  if (['homes', 'printers'].includes(args.share.toLowerCase())) throw new CliError(`[${args.share}] is a special section smbts does not support`)
  const params = args.options.map(parseShareOption)
  if (args.mode === 'delete' && params.length > 0) throw new CliError('-o cannot be given with -d')

  let text = ''
  if (existsSync(args.config)) text = readFileSync(args.config, 'utf8')
  else if (args.mode !== 'add') throw new CliError(`${args.config}: no such file`)

  const here = hasShareSection(text, args.share)
  if (!here && args.mode !== 'add' && existsSync(args.config)) {
    // it may come from an included file, which this command does not edit
    let inIncluded = false
    try { inIncluded = parseConfigText(text, args.config).shares.has(args.share.toLowerCase()) } catch { /* reported below */ }
    if (inIncluded) throw new CliError(`share '${args.share}' is defined in a file included by ${args.config}; edit it there`)
  }

  let next: string
  switch (args.mode) {
    case 'add':
      if (here) throw new CliError(`share '${args.share}' already exists in ${args.config} (use -u to update)`)
      if (!params.some(([k]) => lookupShareParam(k)!.def.name === 'path')) {
        throw new CliError('a new share needs a path: -o "path = /some/dir"')
      }
      next = addShareSection(text, args.share, params)
      break
    case 'update':
      if (!here) throw new CliError(`share '${args.share}' does not exist in ${args.config}`)
      if (params.length === 0) throw new CliError('nothing to update: give parameters with -o "key = value"')
      next = updateShareSection(text, args.share, params)
      break
    case 'delete':
      if (!here) throw new CliError(`share '${args.share}' does not exist in ${args.config}`)
      next = deleteShareSection(text, args.share)
      break
  }

  // never leave a configuration behind that the server would refuse
  try {
    parseConfigText(next, args.config)
  } catch (e) {
    throw new CliError(`the change would make the configuration invalid: ${errorMessage(e)}`)
  }
  writeFileAtomic(args.config, next)
  const verb = args.mode === 'add' ? 'added' : args.mode === 'update' ? 'updated' : 'deleted'
  io.out(`Share '${args.share}' ${verb}`)
  if (args.pidFile !== undefined && notifyServer(args.pidFile)) io.out('Notified the running server')
}

const collect = (v: string, prev: string[]): string[] => [...prev, v]

export function registerAddShare (program: Command, io: CliIO): void {
  program.command('addshare')
    .description('add, update or delete a share of the configuration file')
    .argument('<share>', 'share name: UTF-8, at most 63 bytes, case-insensitive')
    .addOption(new Option('-a, --add', 'add SHARE (the default); it must not exist yet').conflicts(['update', 'delete']))
    .addOption(new Option('-u, --update', 'set parameters of SHARE').conflicts(['add', 'delete']))
    .addOption(new Option('-d, --delete', 'delete SHARE').conflicts(['add', 'update']))
    .option('-o, --option <param>', 'a share parameter "key = value" (repeatable)', collect, [] as string[])
    .option('-C, --config <file>', 'configuration file', DEFAULT_CONFIG_PATH)
    .option('--pid-file <file>', 'pid file of the server to notify of the change', DEFAULT_LOCK_PATH)
    .action((share: string, o: { add?: boolean, update?: boolean, delete?: boolean, option: string[], config: string, pidFile: string }) => {
      const mode: ShareMode = o.update === true ? 'update' : o.delete === true ? 'delete' : 'add'
      runAddShare({ share, mode, config: o.config, options: o.option, pidFile: o.pidFile }, io)
    })
}
