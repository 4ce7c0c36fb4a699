/**
 * Helpers for the LMTP tests: a loftd config with users alice (5001) and bob (5002) and
 * their homes, an LMTP client over the unix socket that speaks raw lines, Python's
 * smtplib.LMTP, and a reader of delivered mail straight from the sdbox files (opening the
 * storage as root in the test would write root-owned index files into the users' homes).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { loginConf, python, startLoftd, TEST_USERS, waitFor, type Loftd } from './harness.js';

export const ALICE = TEST_USERS[0];
export const BOB = TEST_USERS[1];
/** sdbox message files start with a 64-byte header; the raw message follows. */
const DBOX_HEADER_BYTES = 64;
const FRAMED_JSON_HEADER_BYTES = 16;
const REPLY_TIMEOUT_MS = 30_000;

export interface LmtpLoftd {
  loftd: Loftd;
  dir: string;
  socketPath: string;
  home(user: string): string;
}

/** A loftd with auth and lmtp (privsep mode as given) and homes for alice and bob. */
export async function startLmtpLoftd(t: TestContext, options: { privsep: 'fork' | 'seteuid'; autocreate?: boolean; extra?: string }): Promise<LmtpLoftd> {
  const dir = fs.mkdtempSync('/tmp/loft-lmtp-');
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'home'), { mode: 0o755 });
  for (const u of TEST_USERS) {
    const home = path.join(dir, 'home', u.user);
    fs.mkdirSync(home, { mode: 0o700 });
    fs.chownSync(home, u.uid, u.uid);
  }
  const conf = loginConf(dir, 0, {
    extra: `auth_username_format = %Ln
first_valid_uid = 1000
lmtp_privsep = ${options.privsep}
lda_mailbox_autocreate = ${options.autocreate === false ? 'no' : 'yes'}
lmtp_save_to_detail_mailbox = yes
${options.extra ?? ''}
`,
  });
  const loftd = await startLoftd(t, conf, { ready: ['auth', 'lmtp'] });
  const socketPath = path.join(loftd.baseDir, 'run', 'lmtp.sock');
  await waitFor('lmtp.sock', () => fs.existsSync(socketPath));
  return { loftd, dir, socketPath, home: (user) => path.join(dir, 'home', user) };
}

export interface StoredMessage {
  mailbox: string;
  uid: number;
  text: string;
}

/** Every message in a user's sdbox mail (~/mail), with its mailbox name. */
export function readMail(home: string): StoredMessage[] {
  const root = path.join(home, 'mail', 'mailboxes');
  if (!fs.existsSync(root)) return [];
  const out: StoredMessage[] = [];
  for (const guid of fs.readdirSync(root)) {
    const dir = path.join(root, guid);
    const meta = fs.readFileSync(path.join(dir, 'loft.mailbox'));
    const { name } = JSON.parse(meta.subarray(FRAMED_JSON_HEADER_BYTES).toString('utf8')) as { name: string };
    for (const file of fs.readdirSync(dir)) {
      const match = /^u\.(\d+)$/.exec(file);
      if (!match) continue;
      out.push({ mailbox: name, uid: Number(match[1]), text: fs.readFileSync(path.join(dir, file)).subarray(DBOX_HEADER_BYTES).toString('utf8') });
    }
  }
  return out.sort((a, b) => a.mailbox.localeCompare(b.mailbox) || a.uid - b.uid);
}

/** Owners (uid) of every file and directory under `dir`, symlinks not followed. */
export function ownersUnder(dir: string): Map<string, number> {
  const owners = new Map<string, number>();
  const walk = (p: string): void => {
    const stat = fs.lstatSync(p);
    owners.set(p, stat.uid);
    if (stat.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(dir);
  return owners;
}

/** A raw LMTP connection over the unix socket: send lines, read reply lines. */
export class LmtpConnection {
  private buffer = '';
  private waiters: Array<() => void> = [];
  private ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      this.buffer += data;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** `where`: the unix socket's path, or a TCP port on 127.0.0.1. */
  static async open(t: TestContext, where: string | number): Promise<LmtpConnection> {
    const socket = typeof where === 'number' ? net.connect(where, '127.0.0.1') : net.connect(where);
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const conn = new LmtpConnection(socket);
    const greeting = await conn.reply();
    if (!greeting[0]?.startsWith('220 ')) throw new Error(`unexpected greeting ${greeting.join('|')}`);
    return conn;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  get closed(): boolean {
    return this.ended;
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Next single reply line; undefined when the connection closed first. */
  async line(): Promise<string | undefined> {
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    for (;;) {
      const nl = this.buffer.indexOf('\r\n');
      if (nl >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 2);
        return line;
      }
      if (this.ended) return undefined;
      if (Date.now() > deadline) throw new Error(`no LMTP reply within ${REPLY_TIMEOUT_MS} ms (buffer ${JSON.stringify(this.buffer)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, REPLY_TIMEOUT_MS);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** One whole (possibly multi-line) reply. */
  async reply(): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.line();
      if (line === undefined) throw new Error(`connection closed during a reply (${lines.join('|')})`);
      lines.push(line);
      if (line[3] !== '-') return lines;
    }
  }

  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return (await this.reply()).join('\n');
  }
}

/** Deliver with Python's smtplib.LMTP over the unix socket; returns sendmail's refused map (JSON). */
export async function pythonLmtpSend(socketPath: string, from: string, to: string[], body: string): Promise<Record<string, [number, string]>> {
  const code = `
import json, smtplib, sys
c = smtplib.LMTP(${JSON.stringify(socketPath)})
try:
    refused = c.sendmail(${JSON.stringify(from)}, ${JSON.stringify(to)}, ${JSON.stringify(body)}.encode('utf-8'))
except smtplib.SMTPRecipientsRefused as e:
    refused = e.recipients
except smtplib.SMTPDataError as e:
    refused = {'*': (e.smtp_code, str(e.smtp_error))}
c.quit()
print(json.dumps({k: [v[0], v[1].decode() if isinstance(v[1], bytes) else v[1]] for k, v in refused.items()}))
`;
  return JSON.parse(await python(code)) as Record<string, [number, string]>;
}

/**
 * `perUser` messages each to alice and bob, every one from its own Python thread on its own
 * smtplib.LMTP connection at once; resolves with what went wrong (empty when all got 250).
 * Subject: "<subjectPrefix><user> <i>"; `body` follows the blank line.
 */
export async function pythonConcurrentSends(socketPath: string, perUser: number, options: { from: string; subjectPrefix: string; body: string }): Promise<string[]> {
  const out = await python(`
import smtplib, threading, json
errors = []
def send(user, i):
    try:
        c = smtplib.LMTP(${JSON.stringify(socketPath)})
        refused = c.sendmail(${JSON.stringify(options.from)}, [user + '@example.org'], ('Subject: ' + ${JSON.stringify(options.subjectPrefix)} + '%s %d\\r\\n\\r\\n' % (user, i) + ${JSON.stringify(options.body)}).encode())
        c.quit()
        if refused: errors.append(str(refused))
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=send, args=(u, i)) for i in range(${perUser}) for u in ('alice', 'bob')]
for th in threads: th.start()
for th in threads: th.join()
print(json.dumps(errors))
`);
  return JSON.parse(out) as string[];
}

/** pids of the direct children of `pid` (the delivery children of an lmtp process, spares included). */
export function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Real uid of a process, or undefined when it is gone. */
function realUid(pid: number): number | undefined {
  try {
    const match = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The fork privsep's delivery children of an lmtp process that run as `uid` (spares run as root). */
export function childPidsOfUid(lmtpPid: number, uid: number): number[] {
  return childPids(lmtpPid).filter((pid) => realUid(pid) === uid);
}
