// Kerberos logons against a private realm the test makes (test/helpers/kdc.ts: MIT krb5kdc on a
// loopback port, everything in a temp dir): the NEGOTIATE response offers krb5; smbclient
// --use-kerberos=required logs in on SMB 2.1, 3.0 and 3.1.1, plain, signed and encrypted (AES-256
// too: the whole 32-byte GSS key, the acceptor subkey); impacket's kerberosLogin (the ticket's
// key); a hand-made AP-REQ with an initiator subkey (signing checked with it, re-authentication,
// PreviousSessionId, mechListMICs both ways); a `username map` entry; NTLM beside it; and the
// refusals, each STATUS_LOGON_FAILURE with its log line: a replayed AP-REQ, a ticket for a service
// principal not in our keytab, an expired ticket, clock skew, a corrupt token, a bad mechListMIC.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run, smbclient, startLive, type LiveServer } from '../helpers/live.js'
import { HOST, kdcMissing, kvno, REALM, startRealm, type TestRealm } from '../helpers/kdc.js'
import { pythonModuleMissing, runPy, type StepResult } from '../helpers/py.js'
import { TcpClient } from '../helpers/tcp-client.js'
import { outputSecBuf } from '../helpers/mem-client.js'
import { encodeInit, encodeMechTypes, encodeResp, OID_KRB5, OID_MS_KRB5, OID_NTLMSSP, parseInit, parseResp, NegState } from '../../src/auth/spnego.js'
import { NtStatus } from '../../src/wire/ntstatus.js'
import { deriveSessionKeys } from '../../src/crypto/kdf.js'
import { Signer } from '../../src/crypto/signing.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const missing = kdcMissing()

if (missing !== undefined) {
  t.plan(0, missing)
} else {
  main()
}

function main (): void {
  let realm: TestRealm
  let live: LiveServer
  let alice: NodeJS.ProcessEnv
  const saved: NodeJS.ProcessEnv = {}

  t.before(async () => {
    realm = await startRealm()
    await realm.addUser('alice', 'alice-pass-1')
    await realm.addUser('dave', 'dave-pass-1')
    // A service the KDC knows but our keytab does not hold.
    await realm.addService('cifs/other.test', join(realm.dir, 'other.keytab'))
    alice = await realm.kinit('alice', 'alice-pass-1', 'alice.cc')
    // The in-process server's GSSAPI reads these (krb5.conf for the clock skew, the replay cache).
    for (const k of ['KRB5_CONFIG', 'KRB5RCACHENAME']) { saved[k] = process.env[k]; process.env[k] = realm.env[k] }
    const map = join(realm.dir, 'username.map')
    writeFileSync(map, '# principal -> local user\ncarol = dave@SMBTS.TEST\n')
    live = await startLive({
      global: [`realm = ${REALM.toLowerCase()}`, 'kerberos method = dedicated keytab', `dedicated keytab file = ${realm.keytab}`, `username map = ${map}`],
    })
  })
  t.teardown(async () => {
    await live?.stop()
    await realm?.stop()
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  })

  const krbSmbclient = (env: NodeJS.ProcessEnv, cmds: string, proto: string, extra: string[] = [], host = HOST): Promise<{ code: number | null, stdout: string, stderr: string }> =>
    run('smbclient', [`//${host}/share`, '-I', '127.0.0.1', '-p', String(live.port), '--use-kerberos=required',
      '-m', proto, `--option=client min protocol=${proto}`, ...extra, '-c', cmds], { env })

  t.test('NEGOTIATE offers MS krb5, krb5 and NTLMSSP', async t => {
    const c = await TcpClient.open(live.port)
    try {
      const r = await c.negotiate({ dialects: [0x0311] })
      t.equal(r.status, 0)
      // MS-SMB2 2.2.4: SecurityBufferOffset and Length at 56 and 58.
      const init = parseInit(r.msg.subarray(r.body.readUInt16LE(56), r.body.readUInt16LE(56) + r.body.readUInt16LE(58)))
      t.same(init.kind === 'spnego' ? init.mechTypes : [], [OID_MS_KRB5, OID_KRB5, OID_NTLMSSP])
    } finally { c.end() }
  })

  const cases: Array<[string, string, string[], RegExp]> = [
    ['SMB2_10', 'plain', [], /dialect 0x210/],
    ['SMB2_10', 'signed', ['--client-protection=sign'], /dialect 0x210, signing HmacSha256 \(required\)/],
    ['SMB3_00', 'plain', [], /dialect 0x300/],
    ['SMB3_00', 'signed', ['--client-protection=sign'], /dialect 0x300, signing AesCmac \(required\)/],
    ['SMB3_11', 'plain', [], /dialect 0x311/],
    ['SMB3_11', 'signed', ['--client-protection=sign'], /dialect 0x311, signing \w+ \(required\)/],
    ['SMB3_11', 'encrypted', ['--client-protection=encrypt'], /dialect 0x311.*, cipher AES-128-GCM/],
    ['SMB3_11', 'encrypted with AES-256-GCM', ['--client-protection=encrypt', '--option=client smb3 encryption algorithms=AES-256-GCM'], /dialect 0x311.*, cipher AES-256-GCM/],
    ['SMB3_00', 'encrypted', ['--client-protection=encrypt'], /dialect 0x300.*, cipher AES-128-CCM/],
  ]
  for (const [proto, how, extra, logged] of cases) {
    t.test(`smbclient --use-kerberos=required on ${proto}, ${how}`, async t => {
      const name = `krb-${proto}-${how.replace(/\W+/g, '-')}.bin`
      const local = join(live.root, name)
      const data = randomBytes(300_000)
      writeFileSync(local, data)
      const from = live.logs.length
      const r = await krbSmbclient(alice, `lcd ${live.root}; put ${name}; get ${name} ${name}.back; ls`, proto, extra)
      t.equal(r.code, 0, `smbclient exit 0\n${r.stdout}\n${r.stderr}`)
      t.equal(sha(readFileSync(join(live.share, name))), sha(data), 'written through the session')
      t.equal(sha(readFileSync(`${local}.back`)), sha(data), 'read back')
      t.ok(await live.logged(/SMBTS\.TEST\\alice \(Kerberos alice@SMBTS\.TEST, 32-byte key\)/, { from }), 'a Kerberos session of alice with the 32-byte AES-256 ticket key')
      t.ok(await live.logged(logged, { from }), `session as asked (${String(logged)})`)
    })
  }

  t.test('username map: dave@SMBTS.TEST is the local user carol', async t => {
    const dave = await realm.kinit('dave', 'dave-pass-1', 'dave.cc')
    const from = live.logs.length
    const r = await krbSmbclient(dave, 'ls', 'SMB3_11')
    t.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
    t.ok(await live.logged(/SMBTS\.TEST\\carol \(Kerberos dave@SMBTS\.TEST/, { from }), 'mapped to carol')
  })

  t.test('NTLM still works beside Kerberos', async t => {
    const r = await smbclient(live, 'ls', { protocol: 'SMB3_11' })
    t.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
  })

  const impMissing = pythonModuleMissing('impacket')
  t.test('impacket kerberosLogin', { skip: impMissing ?? false }, async t => {
    kvno(alice)
    // Without mutual authentication: impacket's AP-REQ carries no GSS checksum (RFC 4121 4.1.1), so
    // MIT's acceptor takes its flags as unset (MS-KILE) and sends no AP-REP, which impacket's
    // mutualAuth=True needs (docs/kerberos.md). The session key is then the ticket's.
    for (const [dialect, mutual] of [['3.0', '0'], ['2.1', '0']] as const) {
      const r = await runPy<{ steps: Record<string, StepResult> }>('krb5_ops.py', ['login', String(live.port), dialect, 'alice', REALM, mutual, 'share'], { env: alice })
      for (const s of ['login', 'put', 'get', 'list']) t.ok(r.steps[s]?.ok, `${dialect} mutual=${mutual}: ${s}`, { step: r.steps[s] })
      t.equal(r.steps.get?.value, true, `${dialect} mutual=${mutual}: data read back`)
    }
  })

  /** One SESSION_SETUP with `token` on a fresh 3.1.1 connection: its status and SPNEGO reply. */
  const setupWith = async (token: Buffer): Promise<{ status: number, negState?: number, responseToken?: Buffer }> => {
    const c = await TcpClient.open(live.port)
    try {
      await c.negotiate({ dialects: [0x0311] })
      const r = await c.sessionSetupLeg(token)
      const buf = outputSecBuf(r)
      const resp = buf.length > 0 ? parseResp(buf) : {}
      return { status: r.status, ...(resp.negState !== undefined ? { negState: resp.negState } : {}), ...(resp.responseToken !== undefined ? { responseToken: resp.responseToken } : {}) }
    } finally { c.end() }
  }
  const tokenAndKey = async (args: string[], flags: string[] = []): Promise<{ token: Buffer, key: Buffer }> => {
    const r = await runPy<{ token: string, key: string }>('krb5_ops.py', ['token', ...flags, 'alice', REALM, ...args], { env: alice })
    return { token: Buffer.from(r.token, 'hex'), key: Buffer.from(r.key, 'hex') }
  }
  const token = async (args: string[]): Promise<Buffer> => (await tokenAndKey(args)).token

  t.test('the initiator subkey is the session key; signing, re-authentication and PreviousSessionId', { skip: impMissing ?? false }, async t => {
    kvno(alice)
    // Without mutual authentication GSSAPI's session key is the authenticator's subkey: the
    // client knows it, so it can check the signature of the final SESSION_SETUP response.
    const login = async (previous = 0n): Promise<{ c: TcpClient, status: number, signed: boolean }> => {
      const { token: tok, key } = await tokenAndKey(['0'], ['--no-mutual', '--subkey'])
      t.equal(key.length, 32, 'an AES-256 subkey')
      const c = await TcpClient.open(live.port)
      await c.negotiate({ dialects: [0x0311] })
      const r = await c.sessionSetupLeg(tok, 1, previous)
      if (r.status !== 0) return { c, status: r.status, signed: false }
      c.sessionId = r.hdr.sessionId
      const keys = deriveSessionKeys(0x0311, key, c.preauth, 128)
      c.signer = new Signer(c.signingAlgorithm, keys.signingKey)
      c.signAll = true
      return { c, status: r.status, signed: c.verify(r) }
    }
    const a = await login()
    try {
      t.equal(a.status, 0, 'logged in')
      t.ok(a.signed, 'the final response is signed with the key derived from the subkey')
      t.equal((await a.c.treeConnect('share')).status, 0, 'signed requests accepted')
      // Re-authentication with a fresh AP-REQ on the same session: the keys stay (MS-SMB2 3.3.5.5.2).
      const { token: again } = await tokenAndKey(['0'], ['--no-mutual', '--subkey'])
      const from = live.logs.length
      const re = await a.c.sessionSetupLeg(again)
      t.equal(re.status, 0, 're-authenticated')
      t.ok(a.c.verify(re), 'signed with the session\'s key')
      t.ok(await live.logged(/re-authenticated as SMBTS\.TEST\\alice \(Kerberos alice@SMBTS\.TEST\)/, { from }), 'logged')
      t.equal((await a.c.echo()).status, 0, 'the session goes on')
      // A new logon naming it as PreviousSessionId replaces it (MS-SMB2 3.3.5.5.3).
      const b = await login(a.c.sessionId)
      try {
        t.equal(b.status, 0, 'the new session')
        t.equal((await a.c.echo()).status, NtStatus.USER_SESSION_DELETED, 'the previous session is gone')
      } finally { b.c.end() }
    } finally { a.c.end() }
  })

  t.test('mechListMIC with a real GSS context: verified, and ours produced (RFC 4178 5)', { skip: impMissing ?? false }, async t => {
    kvno(alice)
    const NEGOEX = '1.3.6.1.4.1.311.2.2.30'
    const micFor = async (mechTypes: string[]): Promise<{ mechToken: Buffer, key: Buffer, mic: Buffer, der: Buffer }> => {
      const der = encodeMechTypes(mechTypes)
      const r = await runPy<{ mechToken: string, key: string, mic: string }>('krb5_ops.py',
        ['token', '--no-mutual', '--subkey', `--mic=${der.toString('hex')}`, 'alice', REALM, '0'], { env: alice })
      return { mechToken: Buffer.from(r.mechToken, 'hex'), key: Buffer.from(r.key, 'hex'), mic: Buffer.from(r.mic, 'hex'), der }
    }
    const acceptorMicOk = async (key: Buffer, der: Buffer, mic: Buffer | undefined): Promise<boolean> =>
      mic !== undefined && (await runPy<{ ok: boolean }>('krb5_ops.py', ['verifymic', key.toString('hex'), der.toString('hex'), mic.toString('hex')])).ok

    // krb5 first, the client's MIC beside its AP-REQ: checked, answered with ours.
    const a = await micFor([OID_KRB5])
    const c = await TcpClient.open(live.port)
    try {
      await c.negotiate({ dialects: [0x0311] })
      const r = await c.sessionSetupLeg(encodeInit({ mechTypes: [OID_KRB5], mechToken: a.mechToken, mechListMIC: a.mic }))
      t.equal(r.status, 0, 'logged in')
      const resp = parseResp(outputSecBuf(r))
      t.equal(resp.negState, NegState.AcceptCompleted)
      t.ok(await acceptorMicOk(a.key, a.der, resp.mechListMIC), "the server's mechListMIC verifies with the session key")
      t.notOk(await acceptorMicOk(a.key, encodeMechTypes([OID_NTLMSSP]), resp.mechListMIC), '(and the check can fail: not over another list)')
    } finally { c.end() }

    // krb5 not the client's first choice: request-mic, then the AP-REQ with the MIC.
    const mechTypes = [NEGOEX, OID_KRB5]
    const b = await micFor(mechTypes)
    const d = await TcpClient.open(live.port)
    try {
      await d.negotiate({ dialects: [0x0311] })
      const first = await d.sessionSetupLeg(encodeInit({ mechTypes, mechToken: Buffer.from('not a NEGOEX message') }))
      t.equal(first.status, NtStatus.MORE_PROCESSING_REQUIRED)
      t.same(parseResp(outputSecBuf(first)), { negState: NegState.RequestMic, supportedMech: OID_KRB5 }, 'krb5 selected, a MIC requested')
      d.sessionId = first.hdr.sessionId
      const second = await d.sessionSetupLeg(encodeResp({ responseToken: b.mechToken, mechListMIC: b.mic }))
      t.equal(second.status, 0, 'logged in')
      t.ok(await acceptorMicOk(b.key, b.der, parseResp(outputSecBuf(second)).mechListMIC), "the server's mechListMIC verifies")
    } finally { d.end() }

    // A MIC over another list: refused.
    const e = await micFor([OID_KRB5, OID_NTLMSSP])
    const from = live.logs.length
    const bad = await setupWith(encodeInit({ mechTypes: [OID_KRB5], mechToken: e.mechToken, mechListMIC: e.mic }))
    t.equal(bad.status, NtStatus.LOGON_FAILURE, 'a MIC that does not match the MechTypeList')
    t.ok(await live.logged(/logon failure from .*: mic-mismatch/, { from }), 'logged')
  })

  t.test('a replayed AP-REQ is refused', { skip: impMissing ?? false }, async t => {
    kvno(alice)
    const tok = await token(['0'])
    const first = await setupWith(tok)
    t.equal(first.status, 0, 'the first use logs in')
    t.equal(first.negState, NegState.AcceptCompleted)
    t.ok(first.responseToken !== undefined && first.responseToken.length > 0, 'with the AP-REP (mutual authentication)')
    const from = live.logs.length
    const again = await setupWith(tok)
    t.equal(again.status, NtStatus.LOGON_FAILURE, 'the replay: STATUS_LOGON_FAILURE')
    t.ok(await live.logged(/logon failure from .*: replay/, { from }), 'logged as a replay')
  })

  t.test('clock skew is refused', { skip: impMissing ?? false }, async t => {
    kvno(alice)
    const from = live.logs.length
    const r = await setupWith(await token(['-3600']))
    t.equal(r.status, NtStatus.LOGON_FAILURE)
    t.ok(await live.logged(/logon failure from .*: clock-skew/, { from }), 'logged as clock skew')
  })

  t.test('an expired ticket is refused', { skip: impMissing ?? false }, async t => {
    const from = live.logs.length
    const r = await setupWith(await token(['0', realm.keytab, '7200']))
    t.equal(r.status, NtStatus.LOGON_FAILURE)
    t.ok(await live.logged(/logon failure from .*: ticket-expired/, { from }), 'logged as an expired ticket')
  })

  t.test('a corrupt token is refused', { skip: impMissing ?? false }, async t => {
    kvno(alice)
    const tok = await token(['0'])
    const bad = Buffer.from(tok)
    bad[bad.length - 20]! ^= 0x55 // inside the authenticator's ciphertext
    let from = live.logs.length
    t.equal((await setupWith(bad)).status, NtStatus.LOGON_FAILURE, 'a flipped byte')
    t.ok(await live.logged(/logon failure from .*: (bad-integrity|malformed)/, { from }), 'logged')
    from = live.logs.length
    t.equal((await setupWith(tok.subarray(0, tok.length - 40))).status, NtStatus.LOGON_FAILURE, 'a truncated token')
    t.ok(await live.logged(/logon failure from .*: malformed/, { from }), 'logged as malformed')
  })

  t.test('a ticket for a service principal not in our keytab is refused', async t => {
    const from = live.logs.length
    const r = await krbSmbclient(alice, 'ls', 'SMB3_11', [], 'other.test')
    t.not(r.code, 0, 'smbclient fails')
    t.match(r.stdout + r.stderr, /LOGON_FAILURE/)
    t.ok(await live.logged(/logon failure from .*: wrong-principal/, { from }), 'logged as a wrong principal')
  })
}
