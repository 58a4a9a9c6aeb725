// A caller on the inbound-call WebSocket protocol that talks a tone and keeps what it hears
// (16-bit little-endian PCM at 8 kHz both ways), for tests that check audio by frequency.
import assert from 'node:assert/strict';
import { ToneSource, toneRatio, pcmToLE, leToPcm } from '../../src/media/index.js';
import { TestClient } from './ws-client.js';

/** A WebSocket caller: sends a tone in real time (`samplesPerMessage` per binary message) and keeps what it hears. */
export class ToneCaller {
  readonly c: TestClient;
  private timer: NodeJS.Timeout | undefined;
  private readonly heard: Buffer[] = [];
  sessionId = '';

  constructor(url: string) {
    this.c = new TestClient(url);
    this.c.ws.on('message', (data, isBinary) => isBinary && this.heard.push(data as Buffer));
  }

  async answered(): Promise<void> {
    await this.c.opened();
    this.sessionId = (await this.c.json('incoming_call')).sessionId;
    await this.c.json('answer');
  }

  /** Send `hz` for `ms` at real-time pace; resolves when all of it was sent. */
  sendTone(hz: number, ms: number, samplesPerMessage = 160): Promise<number> {
    const tone = new ToneSource([hz], { frameSamples: samplesPerMessage, amplitude: 10_000 });
    const messages = Math.ceil((ms * 8) / samplesPerMessage);
    let sent = 0;
    return new Promise((resolve) => {
      this.timer = setInterval(() => {
        const buf = pcmToLE(tone.next());
        if (this.c.ws.readyState === this.c.ws.OPEN) this.c.send(buf);
        if (++sent >= messages) {
          clearInterval(this.timer);
          resolve(sent * buf.length);
        }
      }, samplesPerMessage / 8);
    });
  }

  /** What it heard so far, as 8 kHz samples (the protocol's 16-bit little-endian PCM). */
  heardSamples(): Int16Array {
    return leToPcm(Buffer.concat(this.heard));
  }

  hangup(): void {
    clearInterval(this.timer);
    if (this.sessionId && this.c.ws.readyState === this.c.ws.OPEN) this.c.send({ event: 'hangup', sessionId: this.sessionId });
  }
}

/** `samples` hold `want` Hz (over half their energy) and not `notWant` Hz (under 5 %). */
export function assertHears(samples: Int16Array, want: number, notWant: number, who: string): void {
  assert.ok(samples.length >= 4000, `${who} heard ${samples.length} samples (expected ≥ 0.5 s)`);
  const yes = toneRatio(samples, 8000, want);
  const no = toneRatio(samples, 8000, notWant);
  assert.ok(yes > 0.5, `${who} heard ${want} Hz: share ${yes.toFixed(2)} over ${samples.length / 8} ms`);
  assert.ok(no < 0.05, `${who} did not hear ${notWant} Hz: share ${no.toFixed(3)}`);
}

