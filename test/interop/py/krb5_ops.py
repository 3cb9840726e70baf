#!/usr/bin/python3
"""impacket Kerberos driver for test/interop/kerberos.test.ts.

Usage:
  krb5_ops.py login PORT DIALECT USER REALM MUTUAL SHARE
      SMBConnection to smbts.test at 127.0.0.1:PORT, kerberosLogin with the cifs/smbts.test ticket
      in the ccache of KRB5CCNAME (MUTUAL 1: the AP-REQ asks for mutual authentication and the
      session key is the AP-REP's subkey; 0: none, the ticket's key), then a put, a get and a list
      on SHARE, every request signed. Prints {"steps": {...}}.
  krb5_ops.py token [--no-mutual] [--subkey] USER REALM SKEW [KEYTAB EXPIRED_SECONDS]
      Prints {"token": hex, "key": hex}: a SPNEGO NegTokenInit (MS krb5) holding an AP-REQ with the
      ccache's cifs/smbts.test ticket and an authenticator SKEW seconds off the clock, asking for
      mutual authentication unless --no-mutual, with an initiator subkey when --subkey. `key` is
      the subkey, else the ticket's session key. With KEYTAB, the ticket is made here instead, with
      that keytab's key, and ended EXPIRED_SECONDS ago. With --mic=HEX also "mechToken" (the GSS
      token alone) and "mic": the initiator's RFC 4121 MIC token over the bytes HEX (the DER
      MechTypeList), made with `key` and the authenticator's sequence number.
  krb5_ops.py verifymic KEY DATA MIC
      Prints {"ok": bool}: whether MIC (hex) is an acceptor's MIC token over DATA with KEY (hex,
      AES-256): RFC 4121 4.2.6.1, key usage 23, the header as the token carries it.
"""
import datetime
import io
import json
import os
import random
import struct
import sys

from pyasn1.codec.der import decoder, encoder
from pyasn1.type.univ import noValue

from impacket import smb3structs, nt_errors
from impacket.krb5 import constants
from impacket.krb5.asn1 import AP_REQ, Authenticator, EncTicketPart, TGS_REP, seq_set
from impacket.krb5.ccache import CCache
from impacket.krb5.crypto import Key, _enctype_table, _SHA1AES256
from impacket.krb5.keytab import Keytab
from impacket.krb5.types import KerberosTime, Principal, Ticket
from impacket.spnego import SPNEGO_NegTokenInit, TypesMech, ASN1_AID, ASN1_OID, asn1encode
from impacket.smbconnection import SMBConnection, SessionError

SERVICE = 'cifs/smbts.test'
DIALECTS = {'2.1': smb3structs.SMB2_DIALECT_21, '3.0': smb3structs.SMB2_DIALECT_30, '3.1.1': smb3structs.SMB2_DIALECT_311}
KRB5_AP_REQ = b'\x01\x00'


def status_name(code):
    name = nt_errors.ERROR_MESSAGES.get(code)
    return name[0] if name else hex(code)


def step(results, name, fn):
    try:
        v = fn()
        results[name] = {'ok': True} if v is None else {'ok': True, 'value': v}
    except SessionError as e:
        results[name] = {'ok': False, 'status': status_name(e.getErrorCode()), 'error': str(e)}
    except Exception as e:  # noqa: BLE001 - every failure is a result
        results[name] = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
    return results[name]['ok']


def ccache_tgs(user, realm):
    cc = CCache.loadFile(os.environ['KRB5CCNAME'].split(':', 1)[-1])
    cred = cc.getCredential('%s@%s' % (SERVICE, realm))
    if cred is None:
        raise Exception('no %s ticket in the ccache' % SERVICE)
    return cred.toTGS(SERVICE)


def login(port, dialect, user, realm, mutual, share):
    r = {}
    conn = SMBConnection('smbts.test', '127.0.0.1', sess_port=int(port), preferredDialect=DIALECTS[dialect])
    conn._SMBConnection._Connection['SupportsDirectoryLeasing'] = False  # impacket 0.10 cannot create a name at the root of a share of a server offering directory leases (an unbound parentDir in smb3.create); it asks for none anyway
    tgs = ccache_tgs(user, realm)
    ok = step(r, 'login', lambda: conn._SMBConnection.kerberosLogin(
        user, '', realm, TGS=tgs, mutualAuth=mutual == '1'))
    if ok:
        conn._SMBConnection._Session['SigningRequired'] = True  # sign every request after it
        data = os.urandom(100000)
        step(r, 'put', lambda: conn.putFile(share, 'krb-imp.bin', io.BytesIO(data).read))
        out = io.BytesIO()
        step(r, 'get', lambda: (conn.getFile(share, 'krb-imp.bin', out.write), out.getvalue() == data)[1])
        step(r, 'list', lambda: sorted(f.get_longname() for f in conn.listPath(share, '*')))
        step(r, 'dialect', lambda: hex(conn.getDialect()))
    print(json.dumps({'steps': r}))


def forged_tgs(user, realm, keytab, expired_seconds):
    """A service ticket made with the service's own key (the keytab), its end in the past."""
    kt = Keytab.loadFile(keytab)
    entry = None
    for e in kt.entries:
        if e.main_part['principal'].prettyPrint().split(b'@')[0] == SERVICE.encode() and \
                int(e.main_part['keyblock']['keytype']) == constants.EncryptionTypes.aes256_cts_hmac_sha1_96.value:
            entry = e
    if entry is None:
        raise Exception('no aes256 key of %s in %s' % (SERVICE, keytab))
    kvno = entry.kvno
    entry = entry.main_part
    service_key = Key(int(entry['keyblock']['keytype']), bytes(entry['keyblock']['keyvalue']['data']))
    cipher = _enctype_table[service_key.enctype]
    session_key = Key(cipher.enctype, os.urandom(32))
    now = datetime.datetime.utcnow()
    etp = EncTicketPart()
    etp['flags'] = constants.encodeFlags([constants.TicketFlags.forwardable.value, constants.TicketFlags.pre_authent.value])
    etp['key'] = noValue
    etp['key']['keytype'] = cipher.enctype
    etp['key']['keyvalue'] = session_key.contents
    etp['crealm'] = realm
    seq_set(etp, 'cname', Principal(user, type=constants.PrincipalNameType.NT_PRINCIPAL.value).components_to_asn1)
    etp['transited'] = noValue
    etp['transited']['tr-type'] = 0
    etp['transited']['contents'] = b''
    etp['authtime'] = KerberosTime.to_asn1(now - datetime.timedelta(seconds=expired_seconds + 3600))
    etp['starttime'] = KerberosTime.to_asn1(now - datetime.timedelta(seconds=expired_seconds + 3600))
    etp['endtime'] = KerberosTime.to_asn1(now - datetime.timedelta(seconds=expired_seconds))
    enc = cipher.encrypt(service_key, 2, encoder.encode(etp), None)  # key usage 2: ticket
    tgs = TGS_REP()
    tgs['pvno'] = 5
    tgs['msg-type'] = constants.ApplicationTagNumbers.TGS_REP.value
    tgs['crealm'] = realm
    seq_set(tgs, 'cname', Principal(user, type=constants.PrincipalNameType.NT_PRINCIPAL.value).components_to_asn1)
    tgs['ticket'] = noValue
    tgs['ticket']['tkt-vno'] = 5
    tgs['ticket']['realm'] = realm
    seq_set(tgs['ticket'], 'sname', Principal(SERVICE, type=constants.PrincipalNameType.NT_SRV_INST.value).components_to_asn1)
    tgs['ticket']['enc-part'] = noValue
    tgs['ticket']['enc-part']['etype'] = cipher.enctype
    tgs['ticket']['enc-part']['kvno'] = kvno
    tgs['ticket']['enc-part']['cipher'] = enc
    tgs['enc-part'] = noValue
    tgs['enc-part']['etype'] = cipher.enctype
    tgs['enc-part']['cipher'] = b''
    return {'KDC_REP': encoder.encode(tgs), 'cipher': cipher, 'sessionKey': session_key}


def token(user, realm, skew, keytab=None, expired_seconds=0, mutual=True, subkey=False, mic_over=None):
    tgs = forged_tgs(user, realm, keytab, expired_seconds) if keytab else ccache_tgs(user, realm)
    cipher, session_key = tgs['cipher'], tgs['sessionKey']
    rep = decoder.decode(tgs['KDC_REP'], asn1Spec=TGS_REP())[0]
    ticket = Ticket()
    ticket.from_asn1(rep['ticket'])
    ap = AP_REQ()
    ap['pvno'] = 5
    ap['msg-type'] = int(constants.ApplicationTagNumbers.AP_REQ.value)
    ap['ap-options'] = constants.encodeFlags([constants.APOptions.mutual_required.value] if mutual else [])
    seq_set(ap, 'ticket', ticket.to_asn1)
    auth = Authenticator()
    auth['authenticator-vno'] = 5
    auth['crealm'] = realm
    seq_set(auth, 'cname', Principal(user, type=constants.PrincipalNameType.NT_PRINCIPAL.value).components_to_asn1)
    now = datetime.datetime.utcnow() + datetime.timedelta(seconds=skew)
    auth['cusec'] = now.microsecond
    auth['ctime'] = KerberosTime.to_asn1(now)
    seq = random.getrandbits(31)
    auth['seq-number'] = seq
    # RFC 4121 4.1.1: the GSS checksum (type 0x8003): Lgth 16, zero channel bindings, the flags
    # (mutual 2, sequence 8, conf 0x10, integ 0x20), as GSSAPI initiators send it.
    auth['cksum'] = noValue
    auth['cksum']['cksumtype'] = 0x8003
    auth['cksum']['checksum'] = struct.pack('<I', 16) + b'\0' * 16 + struct.pack('<I', 0x3a if mutual else 0x38)
    key = session_key
    if subkey:
        key = Key(cipher.enctype, os.urandom(len(session_key.contents)))
        auth['subkey'] = noValue
        auth['subkey']['keytype'] = cipher.enctype
        auth['subkey']['keyvalue'] = key.contents
    ap['authenticator'] = noValue
    ap['authenticator']['etype'] = cipher.enctype
    ap['authenticator']['cipher'] = cipher.encrypt(session_key, 11, encoder.encode(auth), None)
    blob = SPNEGO_NegTokenInit()
    blob['MechTypes'] = [TypesMech['MS KRB5 - Microsoft Kerberos 5']]
    blob['MechToken'] = bytes([ASN1_AID]) + asn1encode(bytes([ASN1_OID]) + asn1encode(
        TypesMech['KRB5 - Kerberos 5']) + KRB5_AP_REQ + encoder.encode(ap))
    out = {'token': blob.getData().hex(), 'key': key.contents.hex(), 'mechToken': blob['MechToken'].hex()}
    if mic_over is not None:
        out['mic'] = mic_token(key, bytes.fromhex(mic_over), seq, 0, 25).hex()
    print(json.dumps(out))


def mic_token(key, data, seq, flags, usage):
    """RFC 4121 4.2.6.1: TOK_ID 04 04, Flags, five 0xFF, SND_SEQ, then the checksum of data || header."""
    header = struct.pack('>HB5sQ', 0x0404, flags, b'\xff' * 5, seq)
    return header + _SHA1AES256.checksum(key, usage, data + header)


def verify_mic(key, data, mic):
    header = mic[:16]
    ok = len(mic) == 28 and header[0:2] == b'\x04\x04' and (header[2] & 1) == 1 and \
        _SHA1AES256.checksum(Key(18, key), 23, data + header) == mic[16:]
    print(json.dumps({'ok': ok}))


if __name__ == '__main__':
    a = sys.argv[1:]
    if a[0] == 'login':
        login(*a[1:7])
    elif a[0] == 'token':
        flags = [x for x in a[1:] if x.startswith('--')]
        a = [x for x in a if not x.startswith('--')]
        mic = [f.split('=', 1)[1] for f in flags if f.startswith('--mic=')]
        token(a[1], a[2], int(a[3]), a[4] if len(a) > 4 else None, int(a[5]) if len(a) > 5 else 0,
              mutual='--no-mutual' not in flags, subkey='--subkey' in flags, mic_over=mic[0] if mic else None)
    elif a[0] == 'verifymic':
        verify_mic(bytes.fromhex(a[1]), bytes.fromhex(a[2]), bytes.fromhex(a[3]))
    else:
        raise SystemExit(__doc__)
