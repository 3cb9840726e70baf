#!/usr/bin/python3
"""libsmbclient (python3-smbc) driver for test/interop/libsmbclient.test.ts.

Usage: smbc_ops.py URL USER PASSWORD SEED
URL is smb://127.0.0.1:PORT/share/DIR (DIR must not exist). The dialect comes from the
smb.conf libsmbclient reads ($HOME/.smb/smb.conf, set up by the test).
Writes and reads at chosen offsets through one handle and keeps a local model of the file; prints
one JSON object: {"checks": [{"name", "ok", "detail"?}], "file": {"name", "sha256", "size"}, "error"?}.
"""
import hashlib
import json
import os
import random
import sys

import smbc

MiB = 1024 * 1024


def main():
    url, user, password, seed = sys.argv[1:5]
    rng = random.Random(int(seed))
    checks = []
    out = {'checks': checks}

    def check(name, ok, detail=None):
        c = {'name': name, 'ok': bool(ok)}
        if detail is not None:
            c['detail'] = detail
        checks.append(c)

    def expect_error(name, exc_type, fn):
        try:
            fn()
            check(name, False, 'no error')
        except exc_type:
            check(name, True)
        except Exception as e:  # noqa: BLE001
            check(name, False, '%s: %s' % (type(e).__name__, e))

    ctx = smbc.Context(auth_fn=lambda server, share, wg, u, p: ('WORKGROUP', user, password))
    try:
        ctx.mkdir(url, 0o755)
        name = 'offsets.bin'
        furl = url + '/' + name
        model = bytearray()

        def write_at(f, off, data):
            f.seek(off, os.SEEK_SET)
            n = f.write(bytes(data))
            if off > len(model):
                model.extend(b'\0' * (off - len(model)))
            model[off:off + len(data)] = data
            return n

        def read_at(f, off, n):
            f.seek(off, os.SEEK_SET)
            got = bytearray()
            while len(got) < n:
                b = f.read(n - len(got))
                if not b:
                    break
                got.extend(b)
            return bytes(got)

        f = ctx.open(furl, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
        initial = rng.randbytes(128 * 1024)
        check('initial write', write_at(f, 0, initial) == len(initial))
        for off, length in [(0, 1), (1, 7), (4095, 2), (4096, 4097), (65537, 70000), (MiB + 3, 5000)]:
            data = rng.randbytes(length)
            n = write_at(f, off, data)
            check('write %d@%d' % (length, off), n == length, 'wrote %d' % n)
            got = read_at(f, off, length)
            check('read back %d@%d' % (length, off), got == data)
            # A read that straddles the write: one byte before (when there is one) to one after.
            lo = max(0, off - 1)
            got = read_at(f, lo, length + 2)
            check('straddling read @%d' % lo, got == bytes(model[lo:lo + length + 2]))
        check('fstat size after writes', f.fstat()[6] == len(model), 'fstat %d model %d' % (f.fstat()[6], len(model)))

        # Past EOF: the gap reads as zeros.
        eof = len(model)
        hole_at = eof + 2 * MiB + 5
        data = rng.randbytes(10)
        write_at(f, hole_at, data)
        check('fstat size after the hole write', f.fstat()[6] == len(model), 'fstat %d model %d' % (f.fstat()[6], len(model)))
        check('hole reads as zeros', read_at(f, eof, 4096) == b'\0' * 4096)
        check('hole end reads as zeros', read_at(f, hole_at - 3, 3) == b'\0' * 3)
        check('data after the hole', read_at(f, hole_at, 10) == data)
        check('read at EOF is empty', read_at(f, len(model), 100) == b'')
        check('read past EOF is empty', read_at(f, len(model) + 12345, 100) == b'')
        check('short read at the tail', read_at(f, len(model) - 4, 100) == bytes(model[-4:]))
        pos = f.seek(-10, os.SEEK_END)
        check('seek from the end', pos == len(model) - 10, 'pos %d' % pos)
        check('read after SEEK_END', f.read(10) == bytes(model[-10:]))
        f.seek(0, os.SEEK_SET)
        whole = bytearray()
        while True:
            b = f.read(256 * 1024)
            if not b:
                break
            whole.extend(b)
        check('whole file through the handle', whole == model, 'len %d model %d' % (len(whole), len(model)))
        f.close()

        st = ctx.stat(furl)
        check('stat size', st[6] == len(model), 'stat %d' % st[6])
        f = ctx.open(furl, os.O_RDONLY)
        got = f.read(len(model) + 1)
        while True:
            b = f.read(MiB)
            if not b:
                break
            got += b
        check('reopen read-only, read all', got == bytes(model))
        expect_error('write on a read-only handle refused', Exception, lambda: f.write(b'x'))
        f.close()
        out['file'] = {'name': name, 'sha256': hashlib.sha256(model).hexdigest(), 'size': len(model)}

        # O_TRUNC on open empties the file.
        turl = url + '/trunc.bin'
        f = ctx.open(turl, os.O_CREAT | os.O_WRONLY, 0o644)
        f.write(b'x' * 10000)
        f.close()
        f = ctx.open(turl, os.O_WRONLY | os.O_TRUNC)
        check('O_TRUNC empties', f.fstat()[6] == 0, 'size %d' % f.fstat()[6])
        f.write(b'abc')
        f.close()
        check('size after O_TRUNC and write', ctx.stat(turl)[6] == 3)
        expect_error('O_CREAT|O_EXCL on an existing file refused', smbc.ExistsError,
                     lambda: ctx.open(turl, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        expect_error('open of a missing file', smbc.NoEntryError, lambda: ctx.open(url + '/missing.bin', os.O_RDONLY))

        # Directory listing.
        ctx.mkdir(url + '/sub', 0o755)
        for i in range(3):
            g = ctx.open('%s/sub/f%d.txt' % (url, i), os.O_CREAT | os.O_WRONLY, 0o644)
            g.write(b'%d' % i * (i + 1))
            g.close()
        listing = {e.name: e.smbc_type for e in ctx.opendir(url).getdents()}
        check('listing of the directory', listing == {'.': smbc.DIR, '..': smbc.DIR, name: smbc.FILE,
                                                       'trunc.bin': smbc.FILE, 'sub': smbc.DIR}, listing)
        sub = sorted(e.name for e in ctx.opendir(url + '/sub').getdents())
        check('listing of the subdirectory', sub == ['.', '..', 'f0.txt', 'f1.txt', 'f2.txt'], sub)
        expect_error('opendir on a file', smbc.NotDirectoryError, lambda: ctx.opendir(furl).getdents())
        expect_error('rmdir of a non-empty directory', smbc.NotEmptyError, lambda: ctx.rmdir(url + '/sub'))

        ctx.rename(url + '/sub/f0.txt', url + '/sub/g0.txt')
        sub = sorted(e.name for e in ctx.opendir(url + '/sub').getdents())
        check('rename seen in the listing', sub == ['.', '..', 'f1.txt', 'f2.txt', 'g0.txt'], sub)

        for n in ('g0.txt', 'f1.txt', 'f2.txt'):
            ctx.unlink(url + '/sub/' + n)
        expect_error('stat after unlink', smbc.NoEntryError, lambda: ctx.stat(url + '/sub/g0.txt'))
        expect_error('unlink of a missing file', smbc.NoEntryError, lambda: ctx.unlink(url + '/sub/g0.txt'))
        ctx.rmdir(url + '/sub')
        expect_error('stat after rmdir', smbc.NoEntryError, lambda: ctx.stat(url + '/sub'))
        ctx.unlink(turl)
        listing = sorted(e.name for e in ctx.opendir(url).getdents())
        check('listing after the deletes', listing == ['.', '..', name], listing)
    except Exception as e:  # noqa: BLE001 - report as data, the test shows it
        out['error'] = '%s: %s' % (type(e).__name__, e)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
