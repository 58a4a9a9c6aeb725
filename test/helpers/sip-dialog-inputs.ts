// The dialogs the SIP dialog machine's tests start from (RFC 3261 §24's Alice and Bob) and the
// Record-Route sets their 1xx and 2xx carry: shared by the model run and the scenarios.
import type { SipDialogInput } from '../../machines/sipDialog.machine.js';

export const RR_18X = ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'];
export const RR_2XX = ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>', '<sip:p3.example.com;lr>'];
export const RR_FORK = ['<sip:q1.example.com;lr>'];

export const uacInput: SipDialogInput = {
  role: 'uac',
  callId: 'a84b4c76e66710@pc33.atlanta.com',
  localTag: '1928301774',
  localUri: 'sip:alice@atlanta.com',
  remoteUri: 'sip:bob@biloxi.com',
  localCSeq: 314159,
  secure: false,
};

export const uasInput: SipDialogInput = {
  role: 'uas',
  callId: 'a84b4c76e66710@pc33.atlanta.com',
  localTag: 'a6c85cf',
  remoteTag: '1928301774',
  localUri: 'sip:bob@biloxi.com',
  remoteUri: 'sip:alice@atlanta.com',
  remoteCSeq: 314159,
  secure: true,
};
