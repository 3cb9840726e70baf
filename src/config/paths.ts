// Default locations, in the places ksmbd-tools uses for ksmbd (/etc/ksmbd, /run/ksmbd.lock),
// under smbts' own name. Every command takes an option to override each of them.

export const DEFAULT_CONFIG_DIR = '/etc/smbts'
export const DEFAULT_CONFIG_PATH = '/etc/smbts/smb.conf'
export const DEFAULT_PWDDB_PATH = '/etc/smbts/ksmbdpwd.db'
/** Holds the server's pid while it runs; like ksmbd.mountd's /run/ksmbd.lock. */
export const DEFAULT_LOCK_PATH = '/run/smbts.lock'
/** Where the control mount (debug, stats, kill_server) appears. */
export const DEFAULT_CONTROL_DIR = '/run/smbts'
/** Where a daemonised server's output goes. */
export const DEFAULT_LOG_PATH = '/var/log/smbts.log'
/** The embedded default (no config file): its one share's directory and its one user. */
export const DEFAULT_SHARE_DIR = '/srv/smbts/share'
export const DEFAULT_USER = 'smbts'
