// `smbts adduser`: add, update or delete a user of the ksmbdpwd.db user database, with
// ksmbd.adduser's rules: an existing user is not added twice, a missing one not updated, and a
// user that the configuration depends on (guest account, valid users, write list, admin users,
// read list, force user) is not deleted.
import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { Option } from 'commander'
import { loadConfig, type Config } from '../config/config.js'
import { DEFAULT_CONFIG_PATH, DEFAULT_LOCK_PATH, DEFAULT_PWDDB_PATH } from '../config/paths.js'
import { findUser, hashPassword, passwordProblem, readPwdDb, userNameProblem, writePwdDb } from '../config/pwddb.js'
import { CliError, type CliIO } from './io.js'
import { notifyServer } from './pidfile.js'

export type UserMode = 'add' | 'update' | 'delete'

export interface AddUserArgs {
  user: string
  mode: UserMode
  pwddb: string
  config: string
  password?: string
  /** pid file of a running server to notify (SIGHUP) */
  pidFile?: string
}

/** Why the configuration needs `user`, or undefined when it can go. */
export function userDependency (config: Config, user: string): string | undefined {
  const lower = user.toLowerCase()
  if (config.global.guestAccount.toLowerCase() === lower) return `user '${user}' is the guest account`
  for (const share of config.shares.values()) {
    const lists: Array<[string, string[]]> = [
      ['valid users', share.validUsers],
      ['write list', share.writeList],
      ['admin users', share.adminUsers],
      ['read list', share.readList],
      ['force user', share.raw.has('force user') ? [share.raw.get('force user')!] : []],
      ['guest account', share.raw.has('guest account') ? [share.raw.get('guest account')!] : []]
    ]
    for (const [param, names] of lists) {
      if (names.some((n) => n.toLowerCase() === lower)) return `share '${share.name}' requires user '${user}' (${param})`
    }
  }
  return undefined
}

async function obtainPassword (args: AddUserArgs, io: CliIO): Promise<string> {
  let password: string
  if (args.password !== undefined) {
    password = args.password
  } else if (io.stdinIsTTY) {
    const first = await io.readSecret('New password: ')
    const second = await io.readSecret('Retype new password: ')
    if (first !== second) throw new CliError('passwords do not match')
    password = first
  } else {
    const line = await io.readLine()
    if (line === undefined) throw new CliError('no password given (use -p, or give it on standard input)')
    password = line
  }
  const problem = passwordProblem(password)
  if (problem !== undefined) throw new CliError(problem)
  return password
}

export async function runAddUser (args: AddUserArgs, io: CliIO): Promise<void> {
  const problem = userNameProblem(args.user)
  if (problem !== undefined) throw new CliError(problem)
  const db = readPwdDb(args.pwddb)
  const stored = findUser(db, args.user)

  switch (args.mode) {
    case 'add': {
      if (stored !== undefined) throw new CliError(`user '${stored}' already exists in ${args.pwddb} (use -u to update)`)
      db.set(args.user, hashPassword(await obtainPassword(args, io)))
      writePwdDb(args.pwddb, db)
      io.out(`User '${args.user}' added`)
      break
    }
    case 'update': {
      if (stored === undefined) throw new CliError(`user '${args.user}' does not exist in ${args.pwddb} (use -a to add)`)
      db.set(stored, hashPassword(await obtainPassword(args, io)))
      writePwdDb(args.pwddb, db)
      io.out(`User '${stored}' updated`)
      break
    }
    case 'delete': {
      if (stored === undefined) throw new CliError(`user '${args.user}' does not exist in ${args.pwddb}`)
      // without a configuration nothing can depend on the user; a broken one must be fixed first
      if (existsSync(args.config)) {
        const why = userDependency(loadConfig(args.config), stored)
        if (why !== undefined) throw new CliError(`${why}; not deleted`)
      }
      db.delete(stored)
      writePwdDb(args.pwddb, db)
      io.out(`User '${stored}' deleted`)
      break
    }
  }
  if (args.pidFile !== undefined && notifyServer(args.pidFile)) io.out('Notified the running server')
}

export function registerAddUser (program: Command, io: CliIO): void {
  program.command('adduser')
    .description('add, update or delete a user of the user database (ksmbdpwd.db)')
    .argument('<user>', 'user name: UTF-8, at most 47 bytes, no colon')
    .addOption(new Option('-a, --add', 'add USER (the default); it must not exist yet').conflicts(['update', 'delete']))
    .addOption(new Option('-u, --update', 'change the password of USER').conflicts(['add', 'delete']))
    .addOption(new Option('-d, --delete', 'delete USER, unless a share depends on it').conflicts(['add', 'update']))
    .option('-p, --password <password>', 'the password, instead of prompting (at most 128 bytes)')
    .option('-P, --pwddb <file>', 'user database', DEFAULT_PWDDB_PATH)
    .option('-C, --config <file>', 'configuration, checked before deleting a user', DEFAULT_CONFIG_PATH)
    .option('--pid-file <file>', 'pid file of the server to notify of the change', DEFAULT_LOCK_PATH)
    .action(async (user: string, o: { add?: boolean, update?: boolean, delete?: boolean, password?: string, pwddb: string, config: string, pidFile: string }) => {
      const mode: UserMode = o.update === true ? 'update' : o.delete === true ? 'delete' : 'add'
      const args: AddUserArgs = { user, mode, pwddb: o.pwddb, config: o.config, pidFile: o.pidFile }
      if (o.password !== undefined) args.password = o.password
      await runAddUser(args, io)
    })
}
