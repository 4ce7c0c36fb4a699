/**
 * loft/imap: authenticated IMAP sessions. Each process runs as one user uid (the master
 * keeps a pool per uid) and serves up to client_limit sessions of that uid's users.
 */
import { runService } from '@loft/service-runtime';
import { setBlockingIo } from '@loft/storage';
import { ImapSession } from './imap-session.js';

const sessions = new Set<ImapSession>();

/**
 * With one session, its saves' slow system calls (file creation, fsync) block nothing
 * else, and made directly they cost less than through the thread pool (see
 * @loft/storage setBlockingIo). A second session brings the pool back, so no session waits
 * for another's fsync.
 */
function sessionsChanged(): void {
  setBlockingIo(sessions.size <= 1);
}

await runService({
  idleCollector: false,
  onSession(socket, handoff, ctx) {
    // Responses go out as several small writes (untagged lines, then the tagged one); with
    // Nagle on, each command waits for the client's delayed ACK (~40 ms).
    socket.setNoDelay(true);
    const session = new ImapSession(socket, handoff, ctx.logger, ctx.settings);
    sessions.add(session);
    sessionsChanged();
    // 'close' comes once: on() rather than once(), which wraps each listener (~200 bytes a session).
    socket.on('close', () => {
      sessions.delete(session);
      sessionsChanged();
    });
    ctx.setTitle(`${handoff.user} ${handoff.client.remoteIp}`);
    void session.start();
  },
  onMessage(message) {
    if (message.type !== 'kick') return;
    for (const session of sessions) if (session.session.user === message.user) session.kick();
  },
  onShutdown() {
    for (const session of sessions) session.kick('Server shutting down.');
  },
});
