// `npm run bench -- gc`: the WebSocket audio benches at one fixed load step each, for their GC
// figures — scavenges, mean/max scavenge pause and promoted bytes per 10 k frames, in the bare
// server and in callchart, side by side (the last table of each). A short run, so that a change
// that starts promoting frames or lengthening scavenges shows up as a number before the ladders.
//
// Env: GC_STEP (calls / sessions, default 200), GC_WINDOW_MS (default 5000).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, '..');
const STEP = String(Number(process.env.GC_STEP ?? 200));
const WINDOW = String(Number(process.env.GC_WINDOW_MS ?? 5000));

function run(bench: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(benchDir, `${bench}.ts`)], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<void> {
  process.stdout.write(`\n### gc: inbound and jambonz-audio at ${STEP} calls / sessions, ${Number(WINDOW) / 1000} s windows\n`);
  const a = await run('inbound', { INBOUND_LADDER: STEP, INBOUND_WINDOW_MS: WINDOW });
  const b = await run('jambonz-audio', { JAMBONZ_AUDIO_LADDER: STEP, JAMBONZ_AUDIO_WINDOW_MS: WINDOW });
  process.exit(a || b);
}

void main();
