/**
 * loft/imap: authenticated IMAP sessions. Each process runs as one user uid (the master
 * keeps a pool per uid) and serves up to client_limit sessions of that uid's users.
 */
import { runService } from '@loft/service-runtime';
import { ImapSession } from './imap-session.js';

const sessions = new Set<ImapSession>();

await runService({
  onSession(socket, handoff, ctx) {
    // Responses go out as several small writes (untagged lines, then the tagged one); with
    // Nagle on, each command waits for the client's delayed ACK (~40 ms).
    socket.setNoDelay(true);
    const session = new ImapSession(socket, handoff, ctx.logger, ctx.settings);
    sessions.add(session);
    socket.once('close', () => sessions.delete(session));
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
