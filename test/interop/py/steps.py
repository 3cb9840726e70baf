"""What every impacket driver of test/interop/py reports: named steps, each a success (with its
value, when the driver keeps values) or a failure as data (the NTSTATUS name, or the exception).
Drivers import it beside them (a script's own folder is on sys.path)."""
from impacket import nt_errors


def status_name(code):
    name = nt_errors.ERROR_MESSAGES.get(code)
    return name[0] if name else hex(code)


class Steps:
    def __init__(self, keep_values=True):
        self.results = {}
        self.keep_values = keep_values

    def run(self, name, fn):
        """fn's value, or None after recording why it failed."""
        try:
            v = fn()
            self.results[name] = {'ok': True, 'value': v} if self.keep_values and v is not None else {'ok': True}
            return v
        except Exception as e:  # noqa: BLE001 - every failure is data
            # smbconnection.SessionError has getErrorCode(); smb3.SessionError (calls on the SMB3
            # object) get_error_code().
            code = getattr(e, 'getErrorCode', None) or getattr(e, 'get_error_code', None)
            if code is not None:
                self.results[name] = {'ok': False, 'status': status_name(code()), 'error': str(e)}
            else:
                self.results[name] = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
        return None

    def ok(self, name):
        return self.results.get(name, {}).get('ok', False)


# --- what the drivers that open files by hand share (durable_ops, persistent_ops) ---

def create_context(name, data):
    """An SMB2 create context (MS-SMB2 2.2.13.2): its 4-byte name padded to 8, then its data."""
    from impacket import smb3structs as s
    c = s.SMB2CreateContext()
    c['Next'] = 0
    c['NameOffset'] = 16
    c['NameLength'] = len(name)
    c['DataOffset'] = 24
    c['DataLength'] = len(data)
    c['Buffer'] = name + b'\x00' * (8 - len(name)) + data
    return c


def connect(port, user, password, share, seed=0x5eed):
    """An SMB 3.0 connection and tree. One client machine sends one ClientGuid on all its
    connections (MS-SMB2 3.2.1.1), as Windows and Linux do; impacket draws its ClientGuid from
    `random`, so the same seed gives the same one (with worker processes, that is what brings a
    reconnect to the worker holding the open)."""
    import random
    from impacket import smb3structs as s
    from impacket.smbconnection import SMBConnection
    random.seed(seed)
    conn = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=int(port), preferredDialect=s.SMB2_DIALECT_30)
    conn._SMBConnection._Connection['SupportsDirectoryLeasing'] = False
    conn.login(user, password)
    return conn, conn.connectTree(share)


def lock_one(conn, tid, fid, off, length, flags):
    """One LOCK element, sent by hand; returns the NTSTATUS (impacket's lock call raises instead)."""
    from impacket import smb3structs as s
    smb = conn._SMBConnection
    packet = smb.SMB_PACKET()
    packet['Command'] = s.SMB2_LOCK
    packet['TreeID'] = tid
    body = s.SMB2Lock()
    body['FileID'] = fid
    body['LockCount'] = 1
    body['LockSequence'] = 0
    el = s.SMB2_LOCK_ELEMENT()
    el['Offset'] = off
    el['Length'] = length
    el['Flags'] = flags
    body['Locks'] = el.getData()
    packet['Data'] = body
    ans = smb.recvSMB(smb.sendSMB(packet))
    return ans['Status']
