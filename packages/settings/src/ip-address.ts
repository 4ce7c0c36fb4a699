/** IPv4/IPv6 addresses and CIDR ranges, for the `ip`/`cidr` kinds and the local/remote filters. */
import { isIPv4, isIPv6 } from 'node:net';

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = readonly number[];

export interface Cidr { bytes: IpBytes; prefixBits: number }

/** Bytes of an IPv4 or IPv6 address (zone id ignored); IPv4-mapped IPv6 becomes IPv4 so it matches IPv4 ranges. */
export function parseIp(text: string): IpBytes | undefined {
  const address = text.replace(/%[^%]*$/, '');
  if (isIPv4(address)) return address.split('.').map(Number);
  if (!isIPv6(address)) return undefined;
  const bytes = parseIpv6(address);
  const mapped = bytes.slice(0, 12).every((b, i) => b === (i < 10 ? 0 : 0xff));
  return mapped ? bytes.slice(12) : bytes;
}

/** Expands `::` and a dotted IPv4 tail; the input is already known to be valid IPv6. */
function parseIpv6(address: string): number[] {
  const [head, tail = ''] = address.includes('::') ? address.split('::') : [address];
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').flatMap(groupBytes));
  const left = groups(head);
  const right = groups(tail);
  const zeros: number[] = new Array(16 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

function groupBytes(group: string): number[] {
  if (group.includes('.')) return group.split('.').map(Number);
  const value = parseInt(group, 16);
  return [value >> 8, value & 0xff];
}

/** `10.0.0.0/8`, `::1/128`, or a single address (a full-length prefix). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const bytes = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!bytes) return undefined;
  const maxBits = bytes.length * 8;
  if (slash < 0) return { bytes, prefixBits: maxBits };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  // An IPv4-mapped range (::ffff:10.0.0.0/104) was shortened to IPv4 by parseIp.
  const prefixBits = Number(prefixText) - (isIPv6(text.slice(0, slash)) && bytes.length === 4 ? 96 : 0);
  return prefixBits >= 0 && prefixBits <= maxBits ? { bytes, prefixBits } : undefined;
}

export function cidrContains(cidr: Cidr, address: IpBytes): boolean {
  if (cidr.bytes.length !== address.length) return false;
  for (let bit = 0; bit < cidr.prefixBits; bit += 8) {
    const bits = Math.min(8, cidr.prefixBits - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    const i = bit / 8;
    if ((cidr.bytes[i] & mask) !== (address[i] & mask)) return false;
  }
  return true;
}

/** Values the `ip` kind takes: an address, or `*` / `::` meaning every address. */
export function isListenAddress(text: string): boolean {
  return text === '*' || parseIp(text) !== undefined;
}

/** Whether `ip` lies in any of `networks` (CIDR or single addresses, as settings hold them). */
export function ipInNetworks(ip: string, networks: readonly string[]): boolean {
  const address = parseIp(ip.startsWith('::ffff:') ? ip.slice(7) : ip);
  if (!address) return false;
  return networks.some((network) => {
    const cidr = parseCidr(network);
    return cidr !== undefined && cidrContains(cidr, address);
  });
}
