/** loftadm's connection to a running loftd's control socket. */
import fs from 'node:fs';
import path from 'node:path';
import { IpcClient } from '@loft/ipc';
import { RUN_FILES, type MasterControlProtocol } from '@loft/master-protocol';

export const DEFAULT_BASE_DIRS = ['./var', '/run/loft'];
const CONTROL_TIMEOUT_MS = 60_000;

/** --base-dir, else $LOFT_BASE_DIR, else the first default with a master.sock. */
export function findBaseDir(explicit?: string): string {
  if (explicit) return path.resolve(explicit);
  if (process.env.LOFT_BASE_DIR) return path.resolve(process.env.LOFT_BASE_DIR);
  for (const dir of DEFAULT_BASE_DIRS) {
    if (fs.existsSync(path.join(dir, 'run', RUN_FILES.MASTER_SOCKET))) return path.resolve(dir);
  }
  return path.resolve(DEFAULT_BASE_DIRS[DEFAULT_BASE_DIRS.length - 1]);
}

export class NotRunningError extends Error {}

export async function connectMaster(baseDir: string): Promise<IpcClient<MasterControlProtocol>> {
  const socketPath = path.join(baseDir, 'run', RUN_FILES.MASTER_SOCKET);
  try {
    return await IpcClient.connect<MasterControlProtocol>(socketPath, { timeoutMs: CONTROL_TIMEOUT_MS });
  } catch (err) {
    const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    const why = code === 'EACCES' ? 'permission denied (run as root, or as the user loftd runs as)' : 'loftd is not running';
    throw new NotRunningError(`${why}: cannot connect to ${socketPath}`, { cause: err });
  }
}
