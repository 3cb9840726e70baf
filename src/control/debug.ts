// The `debug` control file's state: which components write to the log. Turning one on
// subscribes a writer to its diagnostics channel; turning it off unsubscribes it, and the
// publishers' `hasSubscribers` goes false again (no line is built). The file's text and the
// write syntax are ksmbd's (its `debug` sysfs file), but an unknown name is refused (EINVAL)
// where ksmbd ignores it.
import { debugChannels, DEBUG_COMPONENTS, isDebugComponent, type DebugComponent } from './channels.js'
import { stampLine } from './log.js'

export class UnknownComponentError extends Error {
  readonly code = 'SMBTS_ERR_DEBUG_COMPONENT'
}

/** ksmbd's rendering: every component and a space, enabled ones in brackets, then a newline. */
export function renderDebug (enabled: ReadonlySet<DebugComponent>): string {
  return DEBUG_COMPONENTS.map(c => enabled.has(c) ? `[${c}] ` : `${c} `).join('') + '\n'
}

/**
 * What a write of `text` makes of `enabled`: a name toggles it; `all` turns every component on,
 * or every one off when all were on. A trailing newline (echo) is fine; anything else throws.
 */
export function applyDebugWrite (enabled: ReadonlySet<DebugComponent>, text: string): Set<DebugComponent> {
  const name = text.replace(/\n$/, '').trim()
  const next = new Set(enabled)
  if (name === 'all') {
    const allOn = DEBUG_COMPONENTS.every(c => enabled.has(c))
    return allOn ? new Set() : new Set(DEBUG_COMPONENTS)
  }
  if (!isDebugComponent(name)) throw new UnknownComponentError(`unknown debug component '${name}' (known: ${DEBUG_COMPONENTS.join(', ')}, all)`)
  if (next.has(name)) next.delete(name)
  else next.add(name)
  return next
}

/** Parses SMBTS_DEBUG (`smb,auth`): the known names, the unknown ones apart. */
export function parseDebugList (v: string | undefined): { components: DebugComponent[], unknown: string[] } {
  const names = (v ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
  return { components: names.filter(isDebugComponent), unknown: names.filter(n => !isDebugComponent(n)) }
}

/** The components on in this process, each one a subscriber writing to `sink`. */
export class DebugSwitch {
  private readonly on = new Map<DebugComponent, (msg: unknown) => void>()

  constructor (private readonly sink: (line: string) => void) {}

  get enabled (): Set<DebugComponent> { return new Set(this.on.keys()) }

  set (components: Iterable<DebugComponent>): void {
    const want = new Set(components)
    for (const [c, fn] of this.on) {
      if (!want.has(c)) { debugChannels[c].unsubscribe(fn); this.on.delete(c) }
    }
    for (const c of want) {
      if (this.on.has(c)) continue
      const fn = (msg: unknown): void => { this.sink(stampLine(`debug[${c}]`, String(msg))) }
      debugChannels[c].subscribe(fn)
      this.on.set(c, fn)
    }
  }

  close (): void { this.set([]) }
}
