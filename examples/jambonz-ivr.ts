// A jambonz IVR on a hook route: greet, gather one digit, branch, hang up.
//   npx tsx examples/jambonz-ivr.ts
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_WS_PORT (default 4143, 0 = ephemeral), AGENT_NUMBER.
// then point a jambonz application's calling webhook at ws://<this host>:<port>/ivr.
//   1 → opening hours, then goodbye and hangup
//   2 → dial the front desk (AGENT_NUMBER)
//   anything else, or no key within 8 s → the menu again (three tries, then goodbye)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine, createLogger, verbs, type Engine, type JambonzSession, type Logger } from 'callchart';

export const IVR_PATH = '/ivr';
export const MENU_HOOK = '/ivr/menu';
export const MAX_TRIES = 3;
const AGENT_NUMBER = process.env.AGENT_NUMBER ?? '+15085551234';

const menu = (prefix = '') =>
  verbs()
    .gather({
      actionHook: MENU_HOOK,
      input: ['digits'],
      numDigits: 1,
      timeout: 8,
      say: { text: `${prefix}For opening hours press 1. To speak to someone press 2.` },
    })
    // Reached only when the gather ends without calling its hook (jambonz always calls it; belt and braces).
    .say({ text: 'Goodbye.' })
    .hangup();

/** The IVR's hook handler: everything per call lives in `session.data`. */
export function ivr(session: JambonzSession): void {
  session.data.tries = 1;
  const caller = session.request.from ?? 'caller';
  session.logger.info({ caller }, 'ivr: new call');
  session.reply(menu('Welcome to callchart. '));

  session.on(MENU_HOOK, (result) => {
    const digit = result.reason === 'dtmfDetected' ? result.digits : undefined;
    if (digit === '1') {
      session.reply(verbs().say({ text: 'We are open nine to five, Monday to Friday. Goodbye.' }).hangup());
    } else if (digit === '2') {
      session.reply(
        verbs()
          .say({ text: 'Connecting you now.' })
          .dial({ target: [{ type: 'phone', number: AGENT_NUMBER }], answerOnBridge: true, timeout: 20 })
          .say({ text: 'Nobody is available right now. Goodbye.' })
          .hangup(),
      );
    } else {
      const tries = Number(session.data.tries) + 1;
      session.data.tries = tries;
      if (tries > MAX_TRIES) session.reply(verbs().say({ text: 'Sorry, we did not get that. Goodbye.' }).hangup());
      else session.reply(menu(digit ? 'That is not an option. ' : 'Sorry, I did not hear a choice. '));
    }
  });
  session.on('close', (end) => session.logger.info({ end, tries: session.data.tries }, 'ivr: call over'));
}

export async function startIvr(o: { port?: number; host?: string; logger?: Logger } = {}): Promise<Engine> {
  const engine = createEngine({ host: o.host ?? '127.0.0.1', wsPort: o.port ?? 4143, ...(o.logger ? { logger: o.logger } : {}) });
  engine.jambonz.hook(IVR_PATH, ivr);
  await engine.listen();
  return engine;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const logger = createLogger('info');
  const engine = await startIvr({
    host: process.env.CALLCHART_HOST ?? '127.0.0.1',
    port: Number(process.env.CALLCHART_WS_PORT ?? process.env.PORT ?? 4143),
    logger,
  });
  logger.info({ port: engine.wsPort, path: IVR_PATH }, 'example ready');
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close());
}
