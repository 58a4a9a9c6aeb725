// The load side's payload marker: its sequence number in four μ-law codes.
// μ-law codes 0x10..0x1f decode and re-encode to themselves, so a nibble written with them
// survives an echo that decodes to PCM and encodes again.
export function writeMarker(buf: Buffer, off: number, seq: number): void {
  buf[off] = 0x10 | ((seq >> 12) & 15);
  buf[off + 1] = 0x10 | ((seq >> 8) & 15);
  buf[off + 2] = 0x10 | ((seq >> 4) & 15);
  buf[off + 3] = 0x10 | (seq & 15);
}
export function readMarker(buf: Buffer, off: number): number {
  if (buf.length < off + 4) return -1;
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const b = buf[off + i]!;
    if ((b & 0xf0) !== 0x10) return -1;
    v = (v << 4) | (b & 15);
  }
  return v;
}
