// Configuration failures: one error class with a stable code (CONVENTIONS 6). The message is
// always one line, `FILE:LINE: message` when a place in a file is known.

export interface Diagnostic {
  severity: 'warning' | 'error'
  file: string
  /** 1-based; 0 when the problem is not tied to a line */
  line: number
  message: string
}

export function formatDiagnostic (d: Diagnostic): string {
  return d.line > 0 ? `${d.file}:${d.line}: ${d.message}` : `${d.file}: ${d.message}`
}

export class ConfigError extends Error {
  readonly code = 'SMBTS_ERR_CONFIG'
  /** every error found, the first of which is the message */
  readonly diagnostics: Diagnostic[]
  constructor (message: string, diagnostics: Diagnostic[] = []) {
    super(message)
    this.name = 'ConfigError'
    this.diagnostics = diagnostics
  }

  static from (errors: Diagnostic[]): ConfigError {
    const first = errors[0]
    if (first === undefined) return new ConfigError('invalid configuration')
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''})` : ''
    return new ConfigError(formatDiagnostic(first) + more, errors)
  }
}

export const isConfigError = (e: unknown): e is ConfigError => e instanceof ConfigError
