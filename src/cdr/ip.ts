/**
 * Decodes an IPv4 address as CUCM writes it in CDRs: a signed 32-bit integer whose bytes are
 * in little-endian order (17502380 = 0x010B10AC → 172.16.11.1; negative values when the last
 * octet is ≥ 128). Returns null for 0, empty or non-numeric values (no address recorded).
 */
export function decodeCucmIp(raw: string | undefined): string | null {
  if (raw === undefined || raw === '' || raw === '0') return null;
  if (!/^-?\d{1,10}$/.test(raw)) return null;
  const n = Number(raw);
  if (n < -2147483648 || n > 4294967295) return null;
  const u = n >>> 0; // two's complement → unsigned, so negative values decode too
  return `${u & 0xff}.${(u >>> 8) & 0xff}.${(u >>> 16) & 0xff}.${u >>> 24}`;
}
