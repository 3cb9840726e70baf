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
            self.results[name] = {'ok': True, 'value': v} if self.keep_values else {'ok': True}
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
