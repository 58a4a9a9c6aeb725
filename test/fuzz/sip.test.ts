// SIP datagram fuzz against `callchart serve` in a child process: mutated INVITE/OPTIONS/BYE/
// REGISTER/… (bit flips, truncation, duplicated headers, huge values, deep folding, CR/LF/NUL in
// values, invalid UTF-8, giant Via lists, bad Content-Length, reflection parameters) from several
// loopback sources. After each batch the engine must be alive, answer OPTIONS 200, complete a real
// call and every WebSocket route's legitimate client, and have logged nothing fatal or uncaught.
// Fixed seed and count; FUZZ_SEED / FUZZ_COUNT reproduce or extend a run.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EngineChild } from '../helpers/engine-child.js';
import { Rng, fuzzCount, fuzzSeed } from '../helpers/prng.js';
import { SipFuzzer, ThirdParties } from '../helpers/fuzz-sip.js';
import { sipRequest } from '../helpers/fuzz-gen.js';
import { health } from '../helpers/fuzz-http.js';

const SEED = fuzzSeed(13_001);
const PER_BATCH = fuzzCount(600);
const BATCHES = 4;

describe(`SIP datagram fuzz (seed ${SEED}, ${BATCHES} x ${PER_BATCH}; FUZZ_SEED=${SEED} replays)`, () => {
  let child: EngineChild;
  let fuzzer: SipFuzzer;
  let third: ThirdParties;
  let firstReflectAt = 0;
  const rng = new Rng(SEED);

  before(async () => {
    child = await EngineChild.start();
    third = await ThirdParties.open();
    fuzzer = await SipFuzzer.open({ host: '127.0.0.1', port: child.sipPort }, { port: third.port, rtpPort: third.rtpPort });
  });

  after(async () => {
    fuzzer?.close();
    third?.close();
    if (child?.alive()) await child.stop();
  });

  test('mutated datagrams leave the engine alive and serving (OPTIONS 200, a real call, every WebSocket route)', async (t) => {
    t.diagnostic(`seed ${SEED}`);
    // Unmutated reflection attempts first, so the third-party check below has had time for RTCP.
    const r = rng.fork();
    for (let i = 0; i < 4; i++) {
      fuzzer.send(i, Buffer.from(sipRequest(r, fuzzer.context(i), { method: 'INVITE', reflect: true }), 'latin1'));
      fuzzer.send(i, Buffer.from(sipRequest(r, fuzzer.context(i), { method: 'OPTIONS', reflect: true }), 'latin1'));
    }
    firstReflectAt = Date.now();
    for (let b = 0; b < BATCHES; b++) {
      const used = await fuzzer.batch(rng.fork(), PER_BATCH);
      await new Promise((res) => setTimeout(res, 300));
      const problems = await health(child, { routes: b === BATCHES - 1 ? undefined : ['rooms', 'playback'] });
      assert.deepEqual(problems, [], `after batch ${b + 1} (seed ${SEED}; mutators ${JSON.stringify(used)}):\n${problems.join('\n')}\n${child.tail(20)}`);
    }
    t.diagnostic(`sent ${fuzzer.sent} datagrams (${fuzzer.sentBytes} B), got ${fuzzer.received} responses (${fuzzer.receivedBytes} B)`);
  });

  test('no response carries a bare CR or LF or a NUL inside a header or is more than 1.5x its request + 2 KB (finding 4)', () => {
    const byKind = (k: string) => fuzzer.findings.filter((f) => f.kind === k).map((f) => f.detail);
    assert.deepEqual(
      { controlInHeader: byKind('control-in-header').slice(0, 5), amplified: byKind('amplified').slice(0, 5) },
      { controlInHeader: [], amplified: [] },
      `seed ${SEED}`,
    );
  });

  test('nothing goes to addresses the sender never sent from: Via maddr / received, Contact, SDP c= (finding 2)', async () => {
    // RTCP starts 2.5-7.5 s after a call's media session.
    const wait = firstReflectAt + 8000 - Date.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    assert.equal(third.total(), 0, `third parties received: ${third.describe()} (seed ${SEED})`);
  });

  test('the engine still shuts down cleanly (SIGTERM, exit 0)', async () => {
    assert.deepEqual(await child.stop(), { code: 0, signal: null }, child.tail(20));
  });
});
