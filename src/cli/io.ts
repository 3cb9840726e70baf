// What a command needs from the outside world, so its logic runs in tests without a TTY,
// root, /etc or /run: printing, reading a password, and the files it is told to use.

export interface CliIO {
  out (line: string): void
  err (line: string): void
  /** standard input is a terminal: passwords are prompted for (twice, without echo) */
  stdinIsTTY: boolean
  /** prompts on the terminal and reads one line without echoing it */
  readSecret (prompt: string): Promise<string>
  /** reads one line from standard input; undefined at end of input */
  readLine (): Promise<string | undefined>
}

/** A failure the user caused or can fix; printed as one line `smbts: <message>`. */
export class CliError extends Error {
  readonly code = 'SMBTS_ERR_CLI'
  constructor (message: string) {
    super(message)
    this.name = 'CliError'
  }
}

/** The one-line text of any error, for `smbts: <message>`. */
export function errorMessage (e: unknown): string {
  if (e instanceof Error) {
    const err = e as NodeJS.ErrnoException
    if (err.code === 'EACCES' && err.path !== undefined) return `${err.path}: permission denied`
    if (err.code === 'ENOENT' && err.path !== undefined) return `${err.path}: no such file or directory`
    return err.message.split('\n')[0]!
  }
  return String(e)
}

function readSecretFromTTY (prompt: string): Promise<string> {
  const stdin = process.stdin
  const stderr = process.stderr
  return new Promise((resolve, reject) => {
    stderr.write(prompt)
    let buf = ''
    const wasRaw = stdin.isRaw
    stdin.setRawMode(true)
    stdin.resume()
    stdin.setEncoding('utf8')
    const done = (err?: Error): void => {
      stdin.setRawMode(wasRaw)
      stdin.pause()
      stdin.removeListener('data', onData)
      stderr.write('\n')
      if (err !== undefined) reject(err)
      else resolve(buf)
    }
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done()
        if (ch === '\u0003') return done(new CliError('interrupted'))
        if (ch === '\u0004') return buf === '' ? done(new CliError('no password given')) : done()
        if (ch === '\u007f' || ch === '\b') buf = [...buf].slice(0, -1).join('')
        else if (ch >= ' ') buf += ch
      }
    }
    stdin.on('data', onData)
  })
}

async function readLineFromStdin (): Promise<string | undefined> {
  let buf = ''
  let sawData = false
  for await (const chunk of process.stdin) {
    sawData = true
    buf += String(chunk)
    const nl = buf.indexOf('\n')
    if (nl >= 0) return buf.slice(0, nl).replace(/\r$/, '')
  }
  return sawData ? buf.replace(/\r$/, '') : undefined
}

export function processIO (): CliIO {
  return {
    out: (line) => { process.stdout.write(line + '\n') },
    err: (line) => { process.stderr.write(line + '\n') },
    stdinIsTTY: process.stdin.isTTY === true,
    readSecret: readSecretFromTTY,
    readLine: readLineFromStdin
  }
}
