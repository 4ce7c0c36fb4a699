/**
 * Test data made by the real tool, not by this package: each hash was printed by Dovecot
 * 2.3.19.1's `doveadm pw -s SCHEME -p PASSWORD` (Debian 12 dovecot-core), and the ones with
 * rounds or cost by `doveadm pw -s SCHEME -r N -p PASSWORD`, on 2026-11-28.
 */
export interface DoveadmFixture {
  password: string;
  stored: string;
}

export const DOVEADM_FIXTURES: readonly DoveadmFixture[] = [
  { password: 'secret', stored: '{SHA512-CRYPT}$6$5XY9JnpWhdY83rPO$LzTZjtJeiUcT5fq9eYysgHGhxhQgMaj63QSthiyjP/4JP9xjfB9B4NIeUEOG81IQrn7h05ZAEU0qDQUSsa.Gj.' },
  { password: 'secret', stored: '{SHA256-CRYPT}$5$.TEplxftdiC7bcS0$y4Z3YvNHrg7BCue9f0DiL3dOVj.PBEErpnYB5vywHn0' },
  { password: 'secret', stored: '{BLF-CRYPT}$2y$05$jn/GE4hrRSS7iHl70R9R4eCAcK4fAq2bezs7FnTEq2cEjD8ZFRHTi' },
  { password: 'secret', stored: '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$dVZznPWJ2++XqWgYbSODVw$Pjf1G8j5eusRDPP9icVlvJv50NUvJHKB9nCBEBjHm5I' },
  { password: 'secret', stored: '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$tuZ1EUpL2pCJItsFfNe6Kw$TOauPXv6TO9cXbXcRTT2oK4J8jgzyWFSO7nzu6hqvPg' },
  { password: 'secret', stored: '{SSHA512}W7Zcv1yTJNWRakmLU9AmkBgdtj+aeIeWdo6KuyZ+OFoyZ5K6hN7bxLdGWbPCsWW/2HSDyPyUaNnl4ABFfdqhKCfx26w=' },
  { password: 'secret', stored: '{SSHA512.HEX}ef664da983ea47d7e2690fee24423956bd2dd3e04ddcd5454e9d3b12380f763a0dd837c3e8b07a299b88c1aa381f1e6660301974ab537e8cb3e689e7230ee192c9b2400e' },
  { password: 'secret', stored: '{CRYPT}$2y$05$988zYzCbLuKe6vJDtoCUB.zLjS8ddtKMB97baF1SFC9c11ktxwynu' },
  { password: 'secret', stored: '{PLAIN}secret' },
  { password: 'secret', stored: '{PLAIN.B64}c2VjcmV0' },
  { password: 'secret', stored: '{SHA512-CRYPT}$6$rounds=20000$nxFlW6PbSNtkyPim$V0hnpbAL2BtcuNS6CwhcqEmeVJAtT/FwKDJHvYYwe/7NxCiTtW3YnXu8CRBlewC4NaeZ6WV89TVCtHHX7uiWb0' },
  { password: 'secret', stored: '{SHA256-CRYPT}$5$rounds=8000$SAN1b6AQCMZrdX1C$f.eZpYBrKjlJmoIWoWjBGjOGzoEtz5ptz.7XVCdZGE6' },
  { password: 'secret', stored: '{BLF-CRYPT}$2y$07$xEvJzyuxQa0ATg16RyfAquO8SgR2J5qflmTFEix/0Tau7ho7fPLBy' },
  { password: 'pässwörd €', stored: '{SHA512-CRYPT}$6$.6.e1aS5eRQFNX0h$fbuZUN.XAxr2zrDnRf0GK4ceEfOrZA28Oq9mR.m/m2C7sDpQj7MYfr5azUFjriMKYqJItJUTgTz13MK4GGe.R0' },
  { password: 'pässwörd €', stored: '{SHA256-CRYPT}$5$lxpiBZJiA9E8pHo1$J1LLGMwA7LlISZk.RZTtwt44gr/7Y5VSNtmRLSOHvT2' },
  { password: 'pässwörd €', stored: '{BLF-CRYPT}$2y$05$n5F7dy3lRSBhGjGDMM9QiOp.3h3ceWAlBddTbcs6zhE8qXw.5gmyK' },
  { password: 'pässwörd €', stored: '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$mKHM8xITuDC96ev6r/7ACg$jmVbTRUjPuwi0dKV+GFzd488Gu8eSbJY+bwOBx/1bRk' },
  { password: 'pässwörd €', stored: '{SSHA512}ZQb6g7j1JSv5sYe50YOenzvhbYWNpABc3yc1fNlUEWbCSwb5gbgWYtq3LyUDr9U1bnUiQsKdUelvc2pR1rZ4G3xP6kU=' },
  { password: 'pässwörd €', stored: '{CRYPT}$2y$05$ijx9e0zckTwKUCtqYAA0M.GSug8cSIdE.VcDo366vrowl.UDgKmnq' },
  { password: 'secret', stored: '{MD5-CRYPT}$1$kmW5GMjx$oGS4NowQq3PP866aDTbFy1' },
  { password: 'pässwörd €', stored: '{MD5-CRYPT}$1$XLII4Bmi$zf4riUSGV7BlD18.EesiL1' },
  { password: 'secret', stored: '{CRYPT}$1$kFrONODL$tUN1ZpeNU6zWXhNTUSqUl/' },
];
