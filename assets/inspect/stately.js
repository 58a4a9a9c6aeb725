// The Stately inspector bridge page: events from this callchart process (Server-Sent Events from
// /inspect/stately/events) are posted to the framed Stately app, addressed to its origin only, once
// the app says it is ready. Messages from any other window or origin are ignored.
'use strict';

(() => {
  const frame = document.getElementById('stately');
  const origin = frame.dataset.origin;
  const pending = [];
  const MAX_PENDING = 1000;
  let ready = false;

  const post = (m) => frame.contentWindow.postMessage(m, origin);

  window.addEventListener('message', (e) => {
    if (e.origin !== origin || e.source !== frame.contentWindow) return;
    if (e.data && e.data.type === '@statelyai.connected') {
      ready = true;
      pending.splice(0).forEach(post);
    }
  });

  const es = new EventSource('/inspect/stately/events');
  es.onmessage = (e) => {
    let m;
    try {
      m = JSON.parse(e.data);
    } catch {
      return;
    }
    if (ready) post(m);
    else {
      pending.push(m);
      if (pending.length > MAX_PENDING) pending.shift();
    }
  };
})();
