/**
 * `run/loftd.pid`, held with a proper-lockfile lock so that a second loftd on the same base
 * directory refuses to start. A lock left by a loftd that died (its pid no longer runs) is
 * taken over rather than making the admin wait for it to go stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { LoftError } from '@loft/errors';
import { RUN_FILES } from '@loft/master-protocol';

const LOCK_STALE_MS = 10_000;
const LOCK_UPDATE_MS = 2_000;

export interface PidFile {
  path: string;
  release(): Promise<void>;
}

function runningPid(pidPath: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(pidPath, 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

export async function acquirePidFile(runDir: string, onCompromised: (err: Error) => void): Promise<PidFile> {
  const pidPath = path.join(runDir, RUN_FILES.PID);
  const options = { realpath: false, stale: LOCK_STALE_MS, update: LOCK_UPDATE_MS, onCompromised };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(pidPath, options);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    const pid = runningPid(pidPath);
    if (pid !== undefined) {
      throw new LoftError('LOFT_E_MASTER_RUNNING', `loftd (pid ${pid}) already runs with base_dir ${path.dirname(runDir)}`);
    }
    fs.rmSync(`${pidPath}.lock`, { recursive: true, force: true });
    release = await lockfile.lock(pidPath, options);
  }
  fs.writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o644 });
  return {
    path: pidPath,
    release: async () => {
      fs.rmSync(pidPath, { force: true });
      await release().catch(() => undefined);
    },
  };
}
