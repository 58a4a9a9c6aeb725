// IVR over SIP: answer, play a prompt, collect digits until '#' (or a timeout), read them back as
// DTMF tones, hang up. The prompt is generated at start-up (tones and silence → a WAV in a temp
// dir), played with call.play(); the first digit barges in (stops the prompt).
//   npx tsx examples/ivr-prompt-digits.ts        (SIP on 127.0.0.1:5060, the CLI's default)
//   then call sip:ivr@127.0.0.1:5060 (softphone, baresip, or SIPp), press digits and '#'
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_SIP_PORT (default 5060, 0 = ephemeral),
// CALLCHART_RTP_PORTS (default 20000-29999), IVR_DIGIT_TIMEOUT_MS (default 5000, restarted per digit).
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, createLogger, type Call, type CallPlaySource } from 'callchart';
import { encodeWav, generateTone, DTMF_FREQUENCIES } from 'callchart/media';

const digitTimeoutMs = Number(process.env.IVR_DIGIT_TIMEOUT_MS ?? 5000);

// The prompt: two short beeps, a pause, a longer two-tone chime (≈1.4 s of 8 kHz mono PCM).
const dir = mkdtempSync(join(tmpdir(), 'callchart-ivr-'));
const promptPath = join(dir, 'prompt.wav');
const silence = (ms: number) => new Int16Array((8000 * ms) / 1000);
const parts = [generateTone([660], 250), silence(100), generateTone([880], 250), silence(300), generateTone([440, 660], 500)];
const prompt = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
parts.reduce((off, p) => (prompt.set(p, off), off + p.length), 0);
writeFileSync(promptPath, encodeWav(prompt, { sampleRate: 8000 }));

const engine = createEngine({
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  sipPort: Number(process.env.CALLCHART_SIP_PORT ?? process.env.SIP_PORT ?? 5060),
  rtpPorts: process.env.CALLCHART_RTP_PORTS ?? process.env.RTP_PORTS ?? '20000-29999',
  logger: createLogger('info'),
  onIncomingCall: (call) => {
    if (!call.media) return { action: 'reject', code: 488, reason: 'Not Acceptable Here' };
    void runIvr(call).catch((err) => {
      engine.logger.error({ err, callId: call.id }, 'ivr: failed');
      call.hangup('ivr error');
    });
    return { action: 'accept' };
  },
});

/** Collect digits until '#', an inter-digit timeout, or the caller hanging up. */
function collectDigits(call: Call): Promise<{ digits: string; end: '#' | 'timeout' | 'hangup' }> {
  return new Promise((resolve) => {
    let digits = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (end: '#' | 'timeout' | 'hangup') => {
      clearTimeout(timer);
      call.off('dtmf', onDigit);
      call.off('ended', onEnded);
      resolve({ digits, end });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish('timeout'), digitTimeoutMs);
    };
    const onDigit = (digit: string) => {
      if (digit === '#') return finish('#');
      if (!digits) call.playback?.stop(); // barge-in: the first digit stops the prompt
      digits += digit;
      arm();
    };
    const onEnded = () => finish('hangup');
    call.on('dtmf', onDigit);
    call.once('ended', onEnded);
    arm();
  });
}

async function runIvr(call: Call): Promise<void> {
  call.play(promptPath); // starts once the call is answered
  const { digits, end } = await collectDigits(call);
  engine.logger.info({ callId: call.id, digits, end }, 'ivr: digits collected');
  if (end === 'hangup') return;
  // Read back: each digit as its DTMF tone pair; nothing entered → a short low tone.
  const items: CallPlaySource[] = digits
    ? [...digits].flatMap((d): CallPlaySource[] => [
        { kind: 'tone', frequencies: [...DTMF_FREQUENCIES[d]!], durationMs: 200 },
        { kind: 'silence', durationMs: 100 },
      ])
    : [{ kind: 'tone', frequencies: [400], durationMs: 400 }];
  await call.play(items).done;
  call.hangup(`ivr done (${end})`);
}

await engine.listen();
engine.logger.info({ sipPort: engine.sipPort }, 'example ready');
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void engine.close().finally(() => rmSync(dir, { recursive: true, force: true }));
  });
}
