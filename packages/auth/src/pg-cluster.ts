/**
 * Test support: a private PostgreSQL cluster in a temp dir, reachable only on a UNIX
 * socket in that dir. PostgreSQL refuses to run as root, so as root the cluster runs as
 * `postgres` (or `nobody`) and the dir is handed to that user. Not part of the API.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const POSTGRES_ROOT = '/usr/lib/postgresql';
const PG_CTL_TIMEOUT_S = 30;

export interface PgCluster {
  /** Socket directory: `host=` of a connect string. */
  socketDir: string;
  port: number;
  /** The superuser initdb created. */
  user: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops the server if it runs and removes every file; safe to call twice. */
  destroy(): Promise<void>;
}

/** The bin dir of the newest installed PostgreSQL that has initdb, if any. */
export function findPostgresBin(): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(POSTGRES_ROOT);
  } catch {
    return undefined;
  }
  return versions
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(POSTGRES_ROOT, version, 'bin'))
    .find((bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl')));
}

/** uid/gid to run PostgreSQL as: ourselves unless we are root. */
async function clusterOwner(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const { stdout } = await run('getent', ['passwd', name]);
      const [, , uid, gid] = stdout.trim().split(':');
      return { uid: Number(uid), gid: Number(gid) };
    } catch {
      // try the next candidate
    }
  }
  throw new Error('running as root and neither postgres nor nobody exists to run PostgreSQL as');
}

export async function createPgCluster(bin: string): Promise<PgCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'loft-pg-'));
  const owner = await clusterOwner();
  if (owner) await chown(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  // The socket file is named by the port; no TCP listener is opened, so any number will do.
  const port = 20_000 + Math.floor(Math.random() * 40_000);
  const user = 'loft';
  let running = false;
  const pg = (tool: string, args: string[]) =>
    run(join(bin, tool), args, { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', HOME: dir }, ...(owner ?? {}), timeout: (PG_CTL_TIMEOUT_S + 10) * 1000 });

  const cluster: PgCluster = {
    socketDir: dir,
    port,
    user,
    async start() {
      const options = `-k ${dir} -c listen_addresses='' -p ${port} -c fsync=off -c full_page_writes=off`;
      await pg('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', options, '-w', '-t', String(PG_CTL_TIMEOUT_S), 'start']);
      running = true;
    },
    async stop() {
      await pg('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', String(PG_CTL_TIMEOUT_S), 'stop']);
      running = false;
    },
    async destroy() {
      if (running) await cluster.stop().catch(() => pg('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined));
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await pg('initdb', ['-D', data, '-U', user, '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await cluster.start();
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
  return cluster;
}
