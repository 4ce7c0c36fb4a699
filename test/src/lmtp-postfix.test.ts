/**
 * End to end with Debian's Postfix: a private Postfix instance (its own config and queue
 * directories, no listener) takes a message from `sendmail` and hands it to Loft's lmtp.sock
 * with `virtual_transport = lmtp:unix:…`, both recipients in one LMTP transaction.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { isAlive, IS_ROOT, waitFor } from './harness.js';
import { ALICE, BOB, readMail, startLmtpLoftd, type LmtpLoftd } from './lmtp-support.js';

const POSTFIX = '/usr/sbin/postfix';
const SENDMAIL = '/usr/sbin/sendmail';
const skip = !IS_ROOT ? 'needs root' : !fs.existsSync(POSTFIX) ? 'postfix is not installed (Debian package postfix)' : false;

/** Postfix services a delivery through lmtp needs; nothing listens on the network, nothing is chrooted. */
const MASTER_CF = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

test('Postfix delivers through sendmail into Loft over LMTP, two recipients in one transaction', { skip, timeout: 90_000 }, async (t) => {
  const env = await startLmtpLoftd(t, { privsep: 'fork' });
  const pf = path.join(env.dir, 'postfix');
  for (const sub of ['etc', 'queue', 'data']) fs.mkdirSync(path.join(pf, sub), { recursive: true, mode: 0o755 });
  const postfixUser = spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' });
  fs.chownSync(path.join(pf, 'data'), Number(postfixUser.stdout.trim()), 0);
  const maillog = path.join(pf, 'maillog');
  fs.writeFileSync(path.join(pf, 'etc', 'master.cf'), MASTER_CF);
  fs.writeFileSync(path.join(pf, 'etc', 'main.cf'), `compatibility_level = 3.6
queue_directory = ${pf}/queue
data_directory = ${pf}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.net
mydomain = example.net
myorigin = example.net
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
alias_maps =
alias_database =
virtual_mailbox_domains = example.org
virtual_transport = lmtp:unix:${env.socketPath}
maillog_file = ${maillog}
maillog_file_prefixes = ${pf}
`);
  const config = path.join(pf, 'etc');
  const master = spawn(POSTFIX, ['-c', config, 'start-fg'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  master.stdout.on('data', (d: Buffer) => { output += String(d); });
  master.stderr.on('data', (d: Buffer) => { output += String(d); });
  // Stopped here rather than in t.after: the after hooks of startLmtpLoftd remove the config first.
  try {
    await deliverThroughPostfix(env, pf, config, master, () => output);
  } finally {
    await stopPostfix(pf, config);
    if (master.exitCode === null && master.signalCode === null) master.kill('SIGKILL');
  }
});

/** postfix start-fg leaves the master daemon behind its own exit: stop it by its pid file. */
async function stopPostfix(pf: string, config: string): Promise<void> {
  const pidFile = path.join(pf, 'queue', 'pid', 'master.pid');
  const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : 0;
  spawnSync(POSTFIX, ['-c', config, 'stop'], { timeout: 20_000 });
  if (!pid) return;
  await waitFor('the Postfix master to exit', () => !isAlive(pid), 15_000).catch(() => {
    process.kill(pid, 'SIGKILL');
  });
}

async function deliverThroughPostfix(env: LmtpLoftd, pf: string, config: string, master: ChildProcess, output: () => string): Promise<void> {
  const maillog = path.join(pf, 'maillog');
  const log = (): string => (fs.existsSync(maillog) ? fs.readFileSync(maillog, 'utf8') : '');
  await waitFor('the Postfix master', () => {
    if (master.exitCode !== null && !log().includes('daemon started')) throw new Error(`postfix exited: ${output()}`);
    return log().includes('daemon started');
  }, 30_000);

  const message = 'From: sender@example.net\nTo: alice@example.org, bob+Lists@example.org\nSubject: via postfix\n\n.a line with a leading dot\nbye\n';
  const sent = spawnSync(SENDMAIL, ['-C', config, '-f', 'sender@example.net', 'alice@example.org', 'bob+Lists@example.org'], { input: message, encoding: 'utf8', timeout: 20_000 });
  assert.equal(sent.status, 0, sent.stderr);

  await waitFor('both deliveries in the Postfix log', () => (log().match(/status=sent/g) ?? []).length >= 2 || undefined, 30_000)
    .catch((err: Error) => { throw new Error(`${err.message}\n${log()}`); });
  assert.doesNotMatch(log(), /status=(deferred|bounced)/);
  const alice = readMail(env.home(ALICE.user));
  const bob = readMail(env.home(BOB.user));
  assert.equal(alice.length, 1);
  assert.equal(bob.length, 1);
  assert.equal(bob[0]!.mailbox, 'Lists', 'bob+Lists went to the detail folder');
  const sessionOf = (text: string): string | undefined => /with LMTP id (\S+)/.exec(text)?.[1];
  assert.ok(sessionOf(alice[0]!.text));
  assert.equal(sessionOf(alice[0]!.text), sessionOf(bob[0]!.text), 'Postfix sent both recipients over one LMTP session');
  for (const [m, rcpt] of [[alice[0]!, 'alice@example.org'], [bob[0]!, 'bob+Lists@example.org']] as const) {
    assert.match(m.text, new RegExp(`^Return-Path: <sender@example\\.net>\\r\\nDelivered-To: ${rcpt.replace(/[.+]/g, '\\$&')}\\r\\n`));
    assert.match(m.text, /\r\nSubject: via postfix\r\n/);
    assert.ok(m.text.endsWith('\r\n.a line with a leading dot\r\nbye\r\n'), JSON.stringify(m.text.slice(-80)));
  }
}
