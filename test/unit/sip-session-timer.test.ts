// RFC 4028 on the wire: Session-Expires and Min-SE parsed strictly, the UAS negotiation of §9, and
// `sip.sessionTimers` validated at the edge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList } from '../../src/sip/codec/header-list.js';
import { negotiateUas, parseMinSE, parseSessionExpires, sessionTimerConfig, uasHeaders } from '../../src/sip/ua/session-timer.js';

function headers(h: Record<string, string>): HeaderList {
  const l = new HeaderList();
  for (const [k, v] of Object.entries(h)) l.append(k, v);
  return l;
}

test('Session-Expires and Min-SE: delta-seconds with parameters; anything else is ignored', () => {
  assert.deepEqual(parseSessionExpires('1800'), { interval: 1800 });
  assert.deepEqual(parseSessionExpires('1800;refresher=UAS'), { interval: 1800, refresher: 'uas' });
  assert.deepEqual(parseSessionExpires(' 90 ; refresher=uac ; x=y'), { interval: 90, refresher: 'uac' });
  assert.deepEqual(parseSessionExpires('120;refresher=proxy'), { interval: 120 });
  for (const bad of ['', 'abc', '-5', '0', '12x', '1800;', '99999999999']) assert.equal(parseSessionExpires(bad), undefined, bad);
  assert.equal(parseMinSE('90'), 90);
  assert.equal(parseMinSE('120;x=1'), 120);
  assert.equal(parseMinSE('ninety'), undefined);
  // The compact form of Session-Expires is x (RFC 4028 §4).
  assert.equal(headers({ x: '300' }).get('Session-Expires'), '300');
});

test('UAS (§9): 422 below our Min-SE; the refresher asked for, else the UAC when it supports timer', () => {
  const cfg = { expires: undefined, minSE: 90 };
  assert.deepEqual(negotiateUas(cfg, headers({ 'Session-Expires': '60', Supported: 'timer' })), { kind: 'too-brief', minSE: 90 });
  assert.deepEqual(negotiateUas(cfg, headers({ 'Session-Expires': '1800', Supported: 'timer' })), { kind: 'agree', interval: 1800, refresher: 'uac', require: true });
  assert.deepEqual(negotiateUas(cfg, headers({ 'Session-Expires': '1800;refresher=uas', Supported: '100rel, timer' })), { kind: 'agree', interval: 1800, refresher: 'uas', require: true });
  assert.deepEqual(negotiateUas(cfg, headers({ 'Session-Expires': '1800' })), { kind: 'agree', interval: 1800, refresher: 'uas', require: false }, 'a UAC without timer support cannot refresh');
  assert.deepEqual(negotiateUas(cfg, headers({ Supported: 'timer' })), { kind: 'none' }, 'none asked, none configured');
  const ours = { expires: 600, minSE: 90 };
  assert.deepEqual(negotiateUas(ours, headers({ Supported: 'timer', 'Min-SE': '900' })), { kind: 'agree', interval: 900, refresher: 'uas', require: true });
  assert.deepEqual(uasHeaders({ kind: 'agree', interval: 900, refresher: 'uas', require: true }), [['Session-Expires', '900;refresher=uas'], ['Require', 'timer']]);
  assert.deepEqual(uasHeaders({ kind: 'agree', interval: 900, refresher: 'uas', require: false }), [['Session-Expires', '900;refresher=uas']]);
});

test('sip.sessionTimers is validated: whole seconds, expires ≥ minSE; false turns them off', () => {
  assert.deepEqual(sessionTimerConfig(undefined), { expires: undefined, minSE: 90 });
  assert.deepEqual(sessionTimerConfig({ expires: 1800 }), { expires: 1800, minSE: 90 });
  assert.equal(sessionTimerConfig(false), undefined);
  assert.throws(() => sessionTimerConfig({ expires: 60 }), /expires must be a whole number of seconds ≥ minSE \(90\)/);
  assert.throws(() => sessionTimerConfig({ minSE: 0 }), /minSE must be a whole number/);
  assert.throws(() => sessionTimerConfig({ minSE: 1.5 }), /minSE must be a whole number/);
});
