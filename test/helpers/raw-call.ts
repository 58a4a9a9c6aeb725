// One SIP call placed from a raw SIP client (test/helpers/raw-sip.ts) to an engine on loopback:
// INVITE, wait for 180/200, ACK, BYE, each step awaited by the test.
import { RawSip, request } from './raw-sip.js';

const toTagOf = (to: string | undefined): string => /tag=([^;>\s]+)/.exec(to ?? '')?.[1] ?? '';

export class RawCall {
  private toTag = '';
  private constructor(
    readonly client: RawSip,
    readonly port: number,
    readonly sipCallId: string,
    private readonly from: string,
  ) {}

  /** Send an INVITE (PCMU offer) from `caller` (a number) to the engine's SIP port. */
  static async invite(port: number, caller = '+15550001111'): Promise<RawCall> {
    const client = await new RawSip().open();
    const sipCallId = `viewer-${Math.random().toString(36).slice(2)}@127.0.0.1`;
    const from = `<sip:${caller}@127.0.0.1:${client.port}>;tag=v1`;
    const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40100 RTP/AVP 0\n';
    client.send(request('INVITE', port, client.port, { 'Content-Type': 'application/sdp', 'Call-ID': sipCallId, From: from }, sdp), port);
    return new RawCall(client, port, sipCallId, from);
  }

  async ringing(): Promise<void> {
    await this.client.response((r) => r.status === 180);
  }

  /** Wait for the 200 OK and ACK it. */
  async answered(): Promise<void> {
    const ok = await this.client.response((r) => r.status === 200 && (r.headers.get('CSeq') ?? '').endsWith('INVITE'));
    this.toTag = toTagOf(ok.headers.get('To'));
    this.client.send(request('ACK', this.port, this.client.port, { 'Call-ID': this.sipCallId, From: this.from, To: this.to() }), this.port);
  }

  /** Hang up with a BYE and wait for its 200. */
  async bye(): Promise<void> {
    this.client.send(request('BYE', this.port, this.client.port, { 'Call-ID': this.sipCallId, From: this.from, CSeq: '2 BYE', To: this.to() }), this.port);
    await this.client.response((r) => r.headers.get('CSeq') === '2 BYE' && r.status === 200);
  }

  private closed = false;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  private to(): string {
    return `<sip:callchart@127.0.0.1:${this.port}>;tag=${this.toTag}`;
  }
}
