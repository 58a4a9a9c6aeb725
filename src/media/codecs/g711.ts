// ITU-T G.711 μ-law / A-law companding, L16 byte-order helpers and a 2:1 resampler.
// Encoding goes through a 64 KiB table indexed by the 16-bit sample and decoding through a
// 256-entry table, both built once at module load, so a 160-sample frame is 160 array loads.

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

/** Companded μ-law byte for one 16-bit linear sample (reference algorithm; tables use it). */
function ulawEncodeSample(sample: number): number {
  let mag = sample;
  let sign = 0;
  if (mag < 0) {
    sign = 0x80;
    mag = -mag;
  }
  if (mag > ULAW_CLIP) mag = ULAW_CLIP;
  mag += ULAW_BIAS;
  // The segment is the position of the leading one above bit 7 (bias guarantees bit 7 is set
  // at minimum, so exponent 0 covers the smallest magnitudes).
  let exponent = 7;
  for (let mask = 0x4000; (mag & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (mag >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function ulawDecodeSample(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const mag = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  return u & 0x80 ? -mag : mag;
}

/** Upper end (inclusive) of each A-law segment, on the 13-bit magnitude scale. */
const ALAW_SEG_END = [0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff];

function alawEncodeSample(sample: number): number {
  // Even bits are inverted on the wire (XOR 0x55); the sign bit is 1 for positive values.
  let mask: number;
  let mag: number;
  if (sample >= 0) {
    mask = 0xd5;
    mag = sample;
  } else {
    mask = 0x55;
    mag = -sample - 1;
  }
  mag >>= 3;
  let seg = 0;
  while (seg < 8 && mag > ALAW_SEG_END[seg]!) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  const mantissa = seg < 2 ? (mag >> 1) & 0x0f : (mag >> seg) & 0x0f;
  return ((seg << 4) | mantissa) ^ mask;
}

function alawDecodeSample(code: number): number {
  const a = code ^ 0x55;
  const seg = (a & 0x70) >> 4;
  // Reconstruct at the middle of the quantisation interval.
  let mag = ((a & 0x0f) << 4) + 8;
  if (seg >= 1) mag += 0x100;
  if (seg > 1) mag <<= seg - 1;
  return a & 0x80 ? mag : -mag;
}

const ULAW_ENC = new Uint8Array(65536);
const ALAW_ENC = new Uint8Array(65536);
const ULAW_DEC = new Int16Array(256);
const ALAW_DEC = new Int16Array(256);
for (let i = 0; i < 65536; i++) {
  const s = (i << 16) >> 16;
  ULAW_ENC[i] = ulawEncodeSample(s);
  ALAW_ENC[i] = alawEncodeSample(s);
}
for (let i = 0; i < 256; i++) {
  ULAW_DEC[i] = ulawDecodeSample(i);
  ALAW_DEC[i] = alawDecodeSample(i);
}

export type G711Law = 'PCMU' | 'PCMA';

export function linearToUlaw(sample: number): number {
  return ULAW_ENC[sample & 0xffff]!;
}
export function ulawToLinear(code: number): number {
  return ULAW_DEC[code & 0xff]!;
}
export function linearToAlaw(sample: number): number {
  return ALAW_ENC[sample & 0xffff]!;
}
export function alawToLinear(code: number): number {
  return ALAW_DEC[code & 0xff]!;
}

/**
 * Encode `pcm` into `out` starting at `offset` (so the RTP sender can write straight after the
 * header). Returns the number of bytes written.
 */
export function encodeG711(law: G711Law, pcm: Int16Array, out: Uint8Array, offset = 0): number {
  const table = law === 'PCMU' ? ULAW_ENC : ALAW_ENC;
  const n = pcm.length;
  if (out.length - offset < n) throw new RangeError('G.711 output buffer too small');
  for (let i = 0; i < n; i++) out[offset + i] = table[pcm[i]! & 0xffff]!;
  return n;
}

/** Decode `payload` into `out` (allocated when omitted). Returns the samples view. */
export function decodeG711(law: G711Law, payload: Uint8Array, out?: Int16Array): Int16Array {
  const table = law === 'PCMU' ? ULAW_DEC : ALAW_DEC;
  const n = payload.length;
  const dst = out && out.length >= n ? out : new Int16Array(n);
  for (let i = 0; i < n; i++) dst[i] = table[payload[i]!]!;
  return dst.length === n ? dst : dst.subarray(0, n);
}

export function ulawEncode(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  encodeG711('PCMU', pcm, out);
  return out;
}
export function ulawDecode(buf: Uint8Array): Int16Array {
  return decodeG711('PCMU', buf);
}
export function alawEncode(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  encodeG711('PCMA', pcm, out);
  return out;
}
export function alawDecode(buf: Uint8Array): Int16Array {
  return decodeG711('PCMA', buf);
}

/** RTP payload type numbers of the static G.711 mappings (RFC 3551). */
export const G711_PT: Record<G711Law, number> = { PCMU: 0, PCMA: 8 };

export function lawForPayloadType(pt: number): G711Law | null {
  return pt === 0 ? 'PCMU' : pt === 8 ? 'PCMA' : null;
}

// ---- L16 ------------------------------------------------------------------------------------

/** Host-order Int16Array → big-endian bytes (RTP L16, RFC 3551 §4.5.11). */
export function pcmToL16BE(pcm: Int16Array, out?: Buffer): Buffer {
  const buf = out ?? Buffer.allocUnsafe(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) buf.writeInt16BE(pcm[i]!, i * 2);
  return buf;
}

export function l16BEToPcm(buf: Uint8Array, out?: Int16Array): Int16Array {
  const n = buf.length >> 1;
  const dst = out ?? new Int16Array(n);
  for (let i = 0; i < n; i++) dst[i] = ((buf[2 * i]! << 24) | (buf[2 * i + 1]! << 16)) >> 16;
  return dst;
}

/** Host-order Int16Array → little-endian bytes (WAV). */
export function pcmToLE(pcm: Int16Array, out?: Buffer): Buffer {
  const buf = out ?? Buffer.allocUnsafe(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) buf.writeInt16LE(pcm[i]!, i * 2);
  return buf;
}

export function leToPcm(buf: Uint8Array, out?: Int16Array): Int16Array {
  const n = buf.length >> 1;
  const dst = out ?? new Int16Array(n);
  for (let i = 0; i < n; i++) dst[i] = ((buf[2 * i + 1]! << 24) | (buf[2 * i]! << 16)) >> 16;
  return dst;
}

// ---- 2:1 resampling -------------------------------------------------------------------------

/**
 * 16 kHz → 8 kHz. A [1 2 1]/4 low-pass before decimation: cheap, and enough to keep most of the
 * 4–8 kHz band from folding onto speech. Stateless per call, so frame edges reuse the edge
 * sample instead of the neighbour frame.
 */
export function downsample16to8(input: Int16Array, out?: Int16Array): Int16Array {
  const n = input.length >> 1;
  const dst = out ?? new Int16Array(n);
  const last = input.length - 1;
  for (let i = 0; i < n; i++) {
    const c = 2 * i;
    const prev = input[c > 0 ? c - 1 : 0]!;
    const next = input[c + 1 <= last ? c + 1 : last]!;
    dst[i] = (prev + 2 * input[c]! + next + 2) >> 2;
  }
  return dst;
}

/** 8 kHz → 16 kHz by linear interpolation between neighbouring samples. */
export function upsample8to16(input: Int16Array, out?: Int16Array): Int16Array {
  const n = input.length;
  const dst = out ?? new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    const a = input[i]!;
    const b = i + 1 < n ? input[i + 1]! : a;
    dst[2 * i] = a;
    dst[2 * i + 1] = (a + b) >> 1;
  }
  return dst;
}

/** Any rate to any rate by linear interpolation, for file import of odd rates (not the RTP path). */
export function resampleLinear(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate) return input;
  if (fromRate === 16000 && toRate === 8000) return downsample16to8(input);
  if (fromRate === 8000 && toRate === 16000) return upsample8to16(input);
  const n = Math.floor((input.length * toRate) / fromRate);
  const out = new Int16Array(n);
  const step = fromRate / toRate;
  // When decimating, average over the source span to limit aliasing.
  const span = Math.max(1, Math.floor(step));
  for (let i = 0; i < n; i++) {
    const pos = i * step;
    const j = Math.floor(pos);
    if (span > 1) {
      let acc = 0;
      let cnt = 0;
      for (let k = j; k < j + span && k < input.length; k++, cnt++) acc += input[k]!;
      out[i] = cnt ? Math.round(acc / cnt) : 0;
    } else {
      const a = input[j] ?? 0;
      const b = input[j + 1] ?? a;
      out[i] = Math.round(a + (b - a) * (pos - j));
    }
  }
  return out;
}
