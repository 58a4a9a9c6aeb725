// `callchart serve --stream-url`: parsed from the flag or CALLCHART_STREAM_URL, checked, and shown in --help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServeArgs, UsageError, HELP } from '../../src/cli.js';

test('--stream-url and CALLCHART_STREAM_URL give the bot URL; anything but ws(s):// is a usage error', () => {
  assert.equal(parseServeArgs(['serve', '--stream-url', 'ws://127.0.0.1:8080/bot'], {}).streamUrl, 'ws://127.0.0.1:8080/bot');
  assert.equal(parseServeArgs(['serve'], { CALLCHART_STREAM_URL: 'wss://bot.example.com/media' }).streamUrl, 'wss://bot.example.com/media');
  assert.equal(parseServeArgs(['serve', '--stream-url', 'ws://a/'], { CALLCHART_STREAM_URL: 'ws://b/' }).streamUrl, 'ws://a/', 'the flag wins');
  assert.equal(parseServeArgs(['serve'], {}).streamUrl, undefined);
  assert.throws(() => parseServeArgs(['serve', '--stream-url', 'http://bot/'], {}), (e: unknown) => e instanceof UsageError && /--stream-url must be a ws/.test(e.message));
  assert.match(HELP, /--stream-url <url>.*CALLCHART_STREAM_URL/);
});
