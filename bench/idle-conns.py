#!/usr/bin/python3
"""Holds N idle SMB connections open (NEGOTIATE + SESSION_SETUP each), for bench/side-by-side.ts.

Usage: idle-conns.py PORT USER PASSWORD N
Prints "ready N" once every connection is logged in, then waits until stdin closes and logs off.
SMB 3.0: impacket 0.10 is reliable there (FIELD-NOTES).
"""
import sys

from impacket import smb3structs
from impacket.smbconnection import SMBConnection


def main():
    port, user, password, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    conns = []
    for _ in range(n):
        c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port, preferredDialect=smb3structs.SMB2_DIALECT_30)
        c.login(user, password)
        conns.append(c)
    print('ready %d' % len(conns), flush=True)
    sys.stdin.read()
    for c in conns:
        try:
            c.logoff()
        except Exception:
            pass


if __name__ == '__main__':
    main()
