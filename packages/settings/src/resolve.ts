/**
 * Applying filters: which filter blocks match a connection, and the settings that result.
 * Results depend only on which filters matched, so they are cached by that set rather than
 * by the context: one entry per combination seen, however many client addresses there are.
 */
import type { FilterBlock, FilterMatch, FilterType } from './build-settings.js';
import { cidrContains, parseCidr, parseIp, type Cidr, type IpBytes } from './ip-address.js';
import { deepClone, deepFreeze, overlay, type PlainObject } from './objects.js';

/** Who is asking for settings. Addresses are IPv4 or IPv6 text. */
export interface FilterContext {
  protocol?: string;
  local?: string;
  remote?: string;
  /** Part of the config protocol's request; no filter type matches on it yet. */
  user?: string;
}

/** A filter block as written, for output. */
export interface ConfFilter {
  /** What this block requires; each listed value is an alternative (`protocol imap pop3`). */
  match: { protocol?: string[]; local?: string[]; remote?: string[] };
  /** Typed top-level settings the block sets. */
  settings: Readonly<Record<string, unknown>>;
  children: ConfFilter[];
  file: string;
  line: number;
}

/** A context with its addresses parsed once, however many filters look at them. */
interface ParsedContext {
  protocol?: string;
  local?: IpBytes;
  remote?: IpBytes;
}

interface CompiledFilter {
  id: number;
  matches: (ctx: ParsedContext) => boolean;
  settings: Readonly<PlainObject>;
  children: CompiledFilter[];
}

export class FilterResolver {
  private readonly compiled: CompiledFilter[];
  private readonly cache = new Map<string, Readonly<PlainObject>>();

  constructor(
    private readonly base: Readonly<PlainObject>,
    filters: readonly FilterBlock[],
  ) {
    let nextId = 0;
    const compile = (block: FilterBlock): CompiledFilter => ({
      id: nextId++,
      matches: matcherFor(block.match),
      settings: deepFreeze(deepClone(block.settings)),
      children: block.children.map(compile),
    });
    this.compiled = filters.map(compile);
  }

  /** Base plus every matching filter in file order; a nested filter applies after (over) its parent. */
  resolve(ctx: FilterContext): Readonly<PlainObject> {
    const parsed = { protocol: ctx.protocol, local: optionalIp(ctx.local), remote: optionalIp(ctx.remote) };
    const matched = matchingFilters(this.compiled, parsed);
    const key = matched.map((filter) => filter.id).join(',');
    let settings = this.cache.get(key);
    if (!settings) {
      settings = deepFreeze(matched.reduce<Readonly<PlainObject>>((acc, filter) => overlay(acc, filter.settings), this.base));
      this.cache.set(key, settings);
    }
    return settings;
  }
}

function matchingFilters(filters: readonly CompiledFilter[], ctx: ParsedContext): CompiledFilter[] {
  return filters.flatMap((filter) => (filter.matches(ctx) ? [filter, ...matchingFilters(filter.children, ctx)] : []));
}

function matcherFor(match: FilterMatch): (ctx: ParsedContext) => boolean {
  const tests = (Object.keys(match) as FilterType[]).map((type) => {
    const values = match[type] ?? [];
    if (type === 'protocol') return (ctx: ParsedContext) => ctx.protocol !== undefined && values.includes(ctx.protocol);
    const ranges = values.map(parseCidr).filter((cidr): cidr is Cidr => cidr !== undefined);
    return (ctx: ParsedContext) => addressIn(ctx[type], ranges);
  });
  return (ctx) => tests.every((test) => test(ctx));
}

function optionalIp(text: string | undefined): IpBytes | undefined {
  return text === undefined ? undefined : parseIp(text);
}

function addressIn(address: IpBytes | undefined, ranges: readonly Cidr[]): boolean {
  return address !== undefined && ranges.some((range) => cidrContains(range, address));
}

/** The public, frozen view of the filter blocks. */
export function publicFilters(filters: readonly FilterBlock[]): ConfFilter[] {
  return filters.map((block) => deepFreeze({
    match: deepClone(block.match),
    settings: deepClone(block.settings),
    children: publicFilters(block.children),
    file: block.file,
    line: block.line,
  }));
}
