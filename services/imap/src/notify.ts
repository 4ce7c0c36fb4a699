/**
 * NOTIFY (RFC 5465): which events the client wants for the selected mailbox and for others,
 * and the responses that tell it about other mailboxes: STATUS for message events, LIST for
 * MailboxName (created, deleted as \NonExistent, renamed with OLDNAME) and for
 * SubscriptionChange. The selected mailbox's own events go out through
 * SelectedMailbox.reportChanges, which the session runs between commands when asked to.
 *
 * The storage has no change notification for the mailbox list or for mailboxes that are not
 * open, so other mailboxes are polled: the list index and each watched mailbox's STATUS
 * counters cost one lstat each while nothing changed (MailUser.status()).
 */
import { decodeMailboxName, parseNotify, type ImapArg, type ImapCommand, type NotifyGroup, type StatusItem } from '@loft/imap-proto';
import type { MailboxStatus, MailboxInfo } from '@loft/storage';
import { bad, no } from './command-failure.js';
import { statusValue } from './mailbox-commands.js';
import { normalizeInbox, utf8Enabled, wireName, type SessionContext } from './session-context.js';

/** Events this server delivers; BADEVENT lists them (RFC 5465 §3.1). */
export const NOTIFY_SUPPORTED_EVENTS = ['MessageNew', 'MessageExpunge', 'FlagChange', 'MailboxName', 'SubscriptionChange'];
const MESSAGE_EVENTS = new Set(['MessageNew', 'MessageExpunge', 'FlagChange', 'AnnotationChange']);
/** Mailbox names one NOTIFY may list, as Dovecot's IMAP_NOTIFY_MAX_NAMES_PER_NS; more is NO [NOTIFICATIONOVERFLOW]. */
export const NOTIFY_NAMES_MAX = 100;
/** Mailboxes whose STATUS is watched; past it the session gets OK [NOTIFICATIONOVERFLOW] and NOTIFY NONE (§5.8). */
export const NOTIFY_WATCHED_MAILBOXES_MAX = 1000;
/** How often other mailboxes and the mailbox list are looked at, ms: changes are told within a second. */
export const NOTIFY_POLL_INTERVAL_MS = 400;

type WatchFilter = { kind: 'inboxes' | 'personal' | 'subscribed' } | { kind: 'subtree' | 'mailboxes'; mailboxes: string[] };

interface WatchGroup {
  filter: WatchFilter;
  events: Set<string>;
}

interface ListEntry {
  guid: string;
  attributes: string[];
}

export interface SelectedEvents {
  /** selected-delayed: expunges wait for a command that may report them. */
  delayed: boolean;
  events: Set<string>;
  /** MessageNew's FETCH attributes, as a list argument. */
  fetch: ImapArg | undefined;
}

/** What NOTIFY SET asked for, and the state other mailboxes were last seen in. */
export class NotifyState {
  private list = new Map<string, ListEntry>();
  private subscribed = new Set<string>();
  private readonly statuses = new Map<string, MailboxStatus>();

  constructor(
    readonly selected: SelectedEvents | undefined,
    private readonly groups: readonly WatchGroup[],
  ) {}

  /** The selected mailbox's changes are told between commands (not only at their end). */
  get selectedImmediate(): boolean {
    return this.selected !== undefined && !this.selected.delayed && this.selected.events.size > 0;
  }

  /** Some event concerns mailboxes other than the selected one: they must be polled. */
  get watchesOthers(): boolean {
    return this.groups.length > 0;
  }

  private wants(name: string, event: string): boolean {
    return this.groups.some((g) => g.events.has(event) && this.matches(g.filter, name));
  }

  private wantsMessageEvents(name: string): Set<string> | undefined {
    const events = new Set<string>();
    for (const g of this.groups) if (this.matches(g.filter, name)) for (const e of g.events) if (MESSAGE_EVENTS.has(e)) events.add(e);
    return events.size > 0 ? events : undefined;
  }

  private matches(filter: WatchGroup['filter'], name: string): boolean {
    switch (filter.kind) {
      case 'personal':
      case 'inboxes': // as Dovecot: every personal mailbox can receive mail
        return true;
      case 'subscribed':
        return this.subscribed.has(name);
      case 'subtree':
        return filter.mailboxes.some((root) => name === root || name.startsWith(`${root}/`));
      case 'mailboxes':
        return filter.mailboxes.includes(name);
    }
  }

  /** Reads the list and the watched mailboxes' counters; `sendStatus` for NOTIFY SET STATUS. Returns false on overflow. */
  async start(ctx: SessionContext, sendStatus: boolean): Promise<boolean> {
    await this.readList(ctx);
    let out: Buffer[] = [];
    for (const name of this.list.keys()) {
      const events = this.wantsMessageEvents(name);
      if (events === undefined) continue;
      if (this.statuses.size >= NOTIFY_WATCHED_MAILBOXES_MAX) return false;
      const status = await statusOf(ctx, name);
      if (status === undefined) continue;
      this.statuses.set(name, status);
      if (sendStatus && ctx.selected?.name !== name) {
        const items: StatusItem[] = ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN'];
        if (events.has('FlagChange') || ctx.condstore) items.push('HIGHESTMODSEQ');
        out.push(statusLine(ctx, name, status, items));
        if (out.length >= 64) {
          ctx.writer.send(Buffer.concat(out));
          out = [];
          await ctx.writer.drained();
        }
      }
    }
    if (out.length > 0) ctx.writer.send(Buffer.concat(out));
    return true;
  }

  /** The subscriptions matter: a subscribed filter or SubscriptionChange (reading them costs a file read). */
  private get needsSubscriptions(): boolean {
    return this.groups.some((g) => g.filter.kind === 'subscribed' || g.events.has('SubscriptionChange'));
  }

  private async readList(ctx: SessionContext): Promise<void> {
    this.list = new Map((await ctx.user.listMailboxes('', '*')).filter((i) => i.guid !== '').map((i: MailboxInfo) => [i.name, { guid: i.guid, attributes: i.attributes }]));
    if (this.needsSubscriptions) this.subscribed = new Set((await ctx.user.listMailboxes('', '*', { subscribedOnly: true })).filter((i) => i.subscribed).map((i) => i.name));
  }

  /** This session changed the list itself (CREATE, RENAME…): it is not told about its own change. */
  async forgetOwnListChanges(ctx: SessionContext): Promise<void> {
    if (this.watchesOthers) await this.readList(ctx);
  }

  /**
   * Compares the list, the subscriptions and the watched mailboxes' counters with what was
   * last seen and sends what changed. Returns false when there are too many mailboxes to
   * watch (the caller sends NOTIFICATIONOVERFLOW and stops).
   */
  async poll(ctx: SessionContext): Promise<boolean> {
    const oldList = this.list;
    const oldSubscribed = this.subscribed;
    await this.readList(ctx);
    let out = this.listChanges(ctx, oldList, oldSubscribed);
    for (const name of [...this.statuses.keys()]) if (!this.list.has(name) || this.wantsMessageEvents(name) === undefined) this.statuses.delete(name);
    for (const name of this.list.keys()) {
      const events = this.wantsMessageEvents(name);
      if (events === undefined) continue;
      const status = await statusOf(ctx, name);
      if (status === undefined) continue;
      const before = this.statuses.get(name);
      this.statuses.set(name, status);
      if (this.statuses.size > NOTIFY_WATCHED_MAILBOXES_MAX) return false;
      // A new mailbox is only watched from now on; its creation is MailboxName's business.
      if (before === undefined || ctx.selected?.name === name) continue;
      const items = statusItems(before, status, events, ctx.condstore);
      if (items.length > 0) out = Buffer.concat([out, statusLine(ctx, name, status, items)]);
    }
    if (out.length > 0) ctx.writer.send(out);
    return true;
  }

  /** LIST responses for MailboxName (RFC 5465 §5.4) and SubscriptionChange (§5.5). */
  private listChanges(ctx: SessionContext, oldList: ReadonlyMap<string, ListEntry>, oldSubscribed: ReadonlySet<string>): Buffer {
    const parts: Buffer[] = [];
    const oldByGuid = new Map([...oldList].map(([name, e]) => [e.guid, name]));
    const newGuids = new Set([...this.list.values()].map((e) => e.guid));
    const attributes = (name: string): string[] => (this.list.get(name)?.attributes ?? []).filter((a) => a !== '\\Subscribed');
    for (const [name, entry] of this.list) {
      const oldName = oldByGuid.get(entry.guid);
      if (oldName === name) continue;
      if (oldName === undefined) {
        if (this.wants(name, 'MailboxName')) parts.push(listLine(ctx, attributes(name), name));
      } else if (this.wants(name, 'MailboxName') || this.wants(oldName, 'MailboxName')) {
        parts.push(listLine(ctx, attributes(name), name, oldName));
      }
    }
    for (const [name, entry] of oldList) {
      if (!newGuids.has(entry.guid) && this.wants(name, 'MailboxName')) parts.push(listLine(ctx, ['\\NonExistent'], name));
    }
    for (const name of this.subscribed) {
      if (!oldSubscribed.has(name) && this.wants(name, 'SubscriptionChange')) parts.push(listLine(ctx, [...attributes(name), '\\Subscribed'], name));
    }
    for (const name of oldSubscribed) {
      if (!this.subscribed.has(name) && this.wants(name, 'SubscriptionChange')) parts.push(listLine(ctx, this.list.has(name) ? attributes(name) : ['\\NonExistent'], name));
    }
    return Buffer.concat(parts);
  }
}

/** STATUS items telling `events` of what changed between two readings (as Dovecot chooses them). */
function statusItems(before: MailboxStatus, after: MailboxStatus, events: ReadonlySet<string>, condstore: boolean): StatusItem[] {
  const items = new Set<StatusItem>();
  if (after.uidValidity !== before.uidValidity) for (const i of ['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN'] as const) items.add(i);
  const appended = after.uidNext !== before.uidNext;
  const expunged = after.messages - before.messages < after.uidNext - before.uidNext;
  if ((appended && events.has('MessageNew')) || (expunged && events.has('MessageExpunge'))) for (const i of ['MESSAGES', 'UIDNEXT', 'UNSEEN'] as const) items.add(i);
  if (events.has('FlagChange') && (after.unseen !== before.unseen || (condstore && after.highestModseq !== before.highestModseq))) items.add('UNSEEN');
  if (items.size > 0 && condstore && after.highestModseq !== before.highestModseq) items.add('HIGHESTMODSEQ');
  return [...items];
}

async function statusOf(ctx: SessionContext, name: string): Promise<MailboxStatus | undefined> {
  try {
    return await ctx.user.status(name);
  } catch {
    // Deleted meanwhile: the next list reading drops it.
    return undefined;
  }
}

function statusLine(ctx: SessionContext, name: string, s: MailboxStatus, items: readonly StatusItem[]): Buffer {
  const value = (item: StatusItem): string => statusValue(item, s, ctx.settings.imap_append_limit);
  return Buffer.concat([Buffer.from('* STATUS '), wireName(ctx, name), Buffer.from(` (${items.map((i) => `${i} ${value(i)}`).join(' ')})\r\n`)]);
}

function listLine(ctx: SessionContext, attributes: readonly string[], name: string, oldName?: string): Buffer {
  const parts = [Buffer.from(`* LIST (${attributes.join(' ')}) "/" `), wireName(ctx, name)];
  if (oldName !== undefined) parts.push(Buffer.from(' ("OLDNAME" ('), wireName(ctx, oldName), Buffer.from('))'));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/** A mailbox name of a NOTIFY filter as the storage names it. */
function storageName(ctx: SessionContext, text: string): string {
  const name = utf8Enabled(ctx) ? text : decodeMailboxName(text);
  return normalizeInbox(name.endsWith('/') && name.length > 1 ? name.slice(0, -1) : name);
}

/**
 * NOTIFY NONE / NOTIFY SET: the new state (undefined for NONE), checked as RFC 5465 §3.1,
 * §5 and §6.1 require. Throws BAD for malformed event groups and NO [BADEVENT …] for events
 * this server does not deliver.
 */
export function parseNotifyCommand(ctx: SessionContext, command: ImapCommand): { state: NotifyState | undefined; sendStatus: boolean } {
  const parsed = parseNotify(command.args);
  if (parsed.type === 'none') return { state: undefined, sendStatus: false };
  let selected: SelectedEvents | undefined;
  const groups: WatchGroup[] = [];
  let names = 0;
  for (const group of parsed.groups) {
    const events = checkedEvents(group);
    const { filter } = group;
    if (filter.kind === 'selected' || filter.kind === 'selected-delayed') {
      if (selected !== undefined) throw bad('Only one of selected and selected-delayed may be given');
      for (const e of events) if (!MESSAGE_EVENTS.has(e)) throw bad(`${e} cannot be asked for the selected mailbox`);
      const fetch = group.events.find((e) => e.name === 'MessageNew')?.fetchArgs;
      selected = { delayed: filter.kind === 'selected-delayed', events, fetch };
      continue;
    }
    if (group.events.some((e) => e.fetch !== undefined)) throw bad('MessageNew FETCH attributes are only for the selected mailbox');
    if (events.size === 0) continue;
    if (filter.kind === 'subtree' || filter.kind === 'mailboxes') {
      names += filter.mailboxes.length;
      groups.push({ filter: { kind: filter.kind, mailboxes: filter.mailboxes.map((n) => storageName(ctx, n)) }, events });
    } else {
      groups.push({ filter: { kind: filter.kind as 'inboxes' | 'personal' | 'subscribed' }, events });
    }
  }
  if (names > NOTIFY_NAMES_MAX) throw no(`Too many mailbox names (at most ${NOTIFY_NAMES_MAX})`, 'NOTIFICATIONOVERFLOW');
  return { state: new NotifyState(selected, groups), sendStatus: parsed.status };
}

/** The group's event names, with the combinations §5 requires. */
function checkedEvents(group: NotifyGroup): Set<string> {
  const events = new Set(group.events.map((e) => e.name));
  const unsupported = [...events].filter((e) => !NOTIFY_SUPPORTED_EVENTS.includes(e));
  if (unsupported.length > 0) throw no(`Unsupported NOTIFY events: ${unsupported.join(' ')}`, `BADEVENT (${NOTIFY_SUPPORTED_EVENTS.join(' ')})`);
  if (events.has('MessageNew') !== events.has('MessageExpunge')) throw bad('MessageNew and MessageExpunge must be given together');
  if (events.has('FlagChange') && !events.has('MessageNew')) throw bad('FlagChange needs MessageNew and MessageExpunge');
  return events;
}
