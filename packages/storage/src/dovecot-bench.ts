/**
 * The Dovecot 2.3 side of the storage benchmark: a private dovecot.conf in a temporary
 * directory (sdbox, static passdb/userdb for one user, its own base_dir), and the same
 * operations the Loft side measures, sent as IMAP commands to `doveadm -c CONF exec imap`
 * (a pre-authenticated imap process on stdin/stdout: no network, no login), timed from the
 * command's first byte to its tagged reply. Index sizes are read from the mailbox directory.
 *
 * Dovecot refuses to access mail as root, so when the benchmark runs as root the mail
 * directory is given to DOVECOT_BENCH_UID (nobody) and dovecot.conf sets mail_uid to it.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmod, chown, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { StorageBenchResult } from './storage-bench.js';

/** The uid/gid Dovecot's mail is owned by when the benchmark runs as root. */
export const DOVECOT_BENCH_UID = 65534;
const COMMAND_TIMEOUT_MS = 10 * 60 * 1000;

/** The same measurements as Loft's side, so each row pairs like with like; plus Dovecot's version. */
export type DovecotBenchResult = Omit<StorageBenchResult, 'messages'> & { version: string };

/** Dovecot's version if doveadm can be run here, else undefined. */
export function dovecotVersion(): string | undefined {
  const run = spawnSync('doveadm', ['-c', '/dev/null', 'help'], { encoding: 'utf8' });
  if (run.error) return undefined;
  const version = spawnSync('dovecot', ['--version'], { encoding: 'utf8' });
  return version.status === 0 ? version.stdout.trim() : 'unknown';
}

/** One pre-authenticated imap process and the commands sent to it, one at a time. */
class ImapSession {
  private buffer = '';
  private waiter: (() => void) | undefined;
  private tagCounter = 0;
  private exited = false;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding('latin1');
    proc.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiter?.();
    });
    proc.on('exit', () => {
      this.exited = true;
      this.waiter?.();
    });
  }

  static async start(conf: string, env: NodeJS.ProcessEnv): Promise<ImapSession> {
    // Through cat: node's stdio pipes are socketpairs, and imap on a socket believes it was
    // started by inetd and refuses to run.
    const proc = spawn('sh', ['-c', 'cat | doveadm -c "$0" exec imap | cat', conf], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    proc.stderr.resume();
    const session = new ImapSession(proc);
    await session.until((text) => text.includes('* PREAUTH') || text.includes('* BYE'));
    if (!session.buffer.includes('* PREAUTH')) throw new Error(`dovecot imap did not start: ${session.buffer.slice(0, 200)}`);
    session.buffer = '';
    return session;
  }

  private until(done: (text: string) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('dovecot imap: no reply in time')), COMMAND_TIMEOUT_MS);
      const check = (): void => {
        if (done(this.buffer)) {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        } else if (this.exited) {
          clearTimeout(timer);
          reject(new Error(`dovecot imap exited: ${this.buffer.slice(-300)}`));
        }
      };
      this.waiter = check;
      check();
    });
  }

  /** Sends `command` (with its own literals) and waits for the tagged reply; returns ms and the reply text. */
  async run(command: string | Buffer[]): Promise<{ ms: number; text: string }> {
    const tag = `t${++this.tagCounter}`;
    const marker = `\r\n${tag} `;
    const t0 = performance.now();
    if (typeof command === 'string') this.proc.stdin.write(`${tag} ${command}\r\n`);
    else {
      this.proc.stdin.write(`${tag} `);
      for (const part of command) this.proc.stdin.write(part);
      this.proc.stdin.write('\r\n');
    }
    await this.until((text) => text.startsWith(`${tag} `) || text.includes(marker));
    const ms = performance.now() - t0;
    const text = this.buffer;
    this.buffer = '';
    const status = (text.startsWith(`${tag} `) ? text : text.slice(text.indexOf(marker) + 2)).split(' ')[1];
    if (status !== 'OK') throw new Error(`dovecot imap: ${typeof command === 'string' ? command.slice(0, 60) : 'APPEND'} failed: ${text.slice(-300)}`);
    return { ms, text };
  }

  async close(): Promise<void> {
    if (this.exited) return;
    this.proc.stdin.end('z LOGOUT\r\n');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.proc.kill('SIGKILL');
        resolve();
      }, 5000);
      this.proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.exited) resolve();
    });
  }
}

async function dirBytes(dir: string, match: (name: string) => boolean): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) if (match(name)) total += (await stat(join(dir, name))).size;
  return total;
}

export interface DovecotBenchOptions {
  /** Temporary directory to work in (created by the caller, removed by the caller). */
  dir: string;
  messages: number;
  singleSaves: number;
  flagChanges: number;
  batch: number;
  message: (i: number) => Buffer;
  searchSubject: string;
  searchBody: string;
}

/** Runs the Dovecot side; throws if Dovecot cannot be run. */
export async function runDovecotBench(o: DovecotBenchOptions): Promise<DovecotBenchResult> {
  const version = dovecotVersion();
  if (!version) throw new Error('doveadm is not installed');
  const asRoot = process.getuid?.() === 0;
  const uid = asRoot ? DOVECOT_BENCH_UID : process.getuid!();
  const gid = asRoot ? DOVECOT_BENCH_UID : process.getgid!();
  const home = join(o.dir, 'home');
  const mail = join(o.dir, 'mail');
  for (const d of [join(o.dir, 'run'), join(o.dir, 'state'), home, mail]) await mkdir(d, { recursive: true });
  if (asRoot) {
    // mkdtemp made the directory 0700 for root; the mail uid has to get through it.
    await chmod(o.dir, 0o755);
    for (const d of [home, mail]) await chown(d, uid, gid);
  }
  const conf = join(o.dir, 'dovecot.conf');
  await writeFile(
    conf,
    [
      `base_dir = ${join(o.dir, 'run')}`,
      `state_dir = ${join(o.dir, 'state')}`,
      `log_path = ${join(o.dir, 'dovecot.log')}`,
      `mail_location = sdbox:${mail}`,
      'mail_fsync = never',
      `mail_uid = ${uid}`,
      `mail_gid = ${gid}`,
      'first_valid_uid = 0',
      'first_valid_gid = 0',
      'ssl = no',
      'passdb {\n  driver = static\n  args = password=bench\n}',
      `userdb {\n  driver = static\n  args = uid=${uid} gid=${gid} home=${home}\n}`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, USER: 'bench', HOME: home };
  let session = await ImapSession.start(conf, env);
  try {
    await session.run('SELECT INBOX');
    const append = (messages: Buffer[]): Buffer[] => {
      const parts: Buffer[] = [Buffer.from('APPEND INBOX')];
      for (const m of messages) parts.push(Buffer.from(` {${m.length}+}\r\n`), m);
      return parts;
    };
    let t0 = performance.now();
    for (let i = 0; i < o.singleSaves; i++) await session.run(append([o.message(i)]));
    const savesPerSecond = o.singleSaves / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let done = o.singleSaves; done < o.messages; ) {
      const n = Math.min(o.batch, o.messages - done);
      await session.run(append(Array.from({ length: n }, (_, k) => o.message(done + k))));
      done += n;
    }
    const batchedSavesPerSecond = (o.messages - o.singleSaves) / ((performance.now() - t0) / 1000);
    await session.run('NOOP');
    const boxDir = join(mail, 'mailboxes', 'INBOX', 'dbox-Mails');
    const logBefore = await dirBytes(boxDir, (n) => n.startsWith('dovecot.index.log'));
    for (let i = 0; i < o.flagChanges; i++) await session.run(`UID STORE ${1 + ((i * 7919) % o.messages)} +FLAGS.SILENT (\\Seen)`);
    const bytesPerFlagChange = ((await dirBytes(boxDir, (n) => n.startsWith('dovecot.index.log'))) - logBefore) / o.flagChanges;
    await session.close();
    // Let Dovecot write its index as it does after a session (doveadm index = the indexer's job).
    spawnSync('doveadm', ['-c', conf, 'index', 'INBOX'], { env });

    session = await ImapSession.start(conf, env);
    const openMs = (await session.run('EXAMINE INBOX')).ms;
    const flagsAllMs = (await session.run('FETCH 1:* (FLAGS)')).ms;
    const searchHeaderFirstMs = (await session.run(`SEARCH SUBJECT "${o.searchSubject}"`)).ms;
    const searchHeaderMs = (await session.run(`SEARCH SUBJECT "${o.searchSubject}"`)).ms;
    const bodyHit = await session.run(`SEARCH BODY "${o.searchBody}"`);
    if (!/\* SEARCH \d/.test(bodyHit.text)) throw new Error('dovecot SEARCH BODY found nothing; the benchmark messages are not what was saved');
    const sortDateMs = (await session.run('SORT (DATE) UTF-8 ALL')).ms;
    const sortSizeMs = (await session.run('SORT (SIZE) UTF-8 ALL')).ms;
    const sortSubjectMs = (await session.run('SORT (SUBJECT) UTF-8 ALL')).ms;
    const threadReferencesMs = (await session.run('THREAD REFERENCES UTF-8 ALL')).ms;
    await session.close();
    const indexBytes = await dirBytes(boxDir, (n) => n === 'dovecot.index');
    const cacheBytes = await dirBytes(boxDir, (n) => n === 'dovecot.index.cache');
    return {
      version,
      savesPerSecond,
      batchedSavesPerSecond,
      openMs,
      flagsAllMs,
      searchHeaderFirstMs,
      searchHeaderMs,
      searchBodyMs: bodyHit.ms,
      sortDateMs,
      sortSizeMs,
      sortSubjectMs,
      threadReferencesMs,
      bytesPerFlagChange,
      indexBytesPerMessage: indexBytes / o.messages,
      cacheBytesPerMessage: cacheBytes / o.messages,
    };
  } finally {
    await session.close();
  }
}
