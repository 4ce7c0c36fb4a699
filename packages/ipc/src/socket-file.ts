/** What to do with a file already at a UNIX socket path before listening on it. */
import net from 'node:net';
import { lstat, unlink } from 'node:fs/promises';

/**
 * Removes a socket file left behind by a process that died. A socket someone still listens
 * on, or a path that is not a socket, is left alone, so listen() fails with EADDRINUSE and
 * names the path instead of stealing another server's address or deleting a real file.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!stats?.isSocket() || (await someoneListens(path))) return;
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** True unless connecting is refused: when in doubt (EACCES, say) the file is kept. */
function someoneListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      resolve(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT');
    });
  });
}
