// efuse-attest emulate: runs the emulated device on a pseudo-terminal until Ctrl-C, so other
// commands (or any serial tool) can use it as a board: efuse-attest ping --port <path>.
// A long-running command: with --json the path is printed on stdout as soon as it is ready
// ({"path":...}, one line), and the usual result (path and the emulator's last stats) at the end.
import { chipsWith } from '../../../protocol/index.js';
import { startEmulator, type EmulatorStats } from '../../emulator.js';
import { TransportError } from '../../errors.js';
import { type Command, type Options, required, str } from '../command.js';

const OPTIONS = {
  chip: { type: 'string' },
  efuse: { type: 'string' },
  silicon: { type: 'string' },
  link: { type: 'string' },
  main: { type: 'string' },
  verbose: { type: 'boolean' },
} as const satisfies Options;

interface EmulateResult { path: string; stats?: EmulatorStats }

export const emulate: Command = {
  name: 'emulate',
  summary: 'run an emulated device (the firmware on XS) on a pseudo-terminal until Ctrl-C',
  usage: `efuse-attest emulate --chip CHIP --efuse FILE [options]

  --chip CHIP       ${chipsWith('emulated').join(', ')} (the targets the firmware builds for)
  --efuse FILE      eFuse image made by espefuse --virt (--path-efuse-file)
  --silicon FILE    keys the silicon holds (default FILE.silicon.json)
  --link PATH       also make PATH a symbolic link to the pty, e.g. /tmp/esp32
  --main FILE       a file to run as the module "main" (default: the firmware, device/boot.js)
  --verbose         show the firmware's trace output and the emulator's log

Prints the pty path, then runs until Ctrl-C. Use the path as --port of the other commands.
With --json: {"path": "..."} on one line when ready, and the result when it ends.`,
  options: OPTIONS,
  async run(values, _p, ctx): Promise<EmulateResult> {
    const link = str(values, 'link');
    const main = str(values, 'main');
    const silicon = str(values, 'silicon');
    const emulator = await startEmulator({
      chip: required(values, 'chip'),
      efuse: required(values, 'efuse'),
      ...(silicon !== undefined ? { silicon } : {}),
      ...(link !== undefined ? { link } : {}),
      ...(main !== undefined ? { main } : {}),
      verbose: values.verbose === true,
      onLog: (line) => { if (values.verbose === true || !ctx.json) process.stderr.write(line + '\n'); },
    });
    if (ctx.json) process.stdout.write(JSON.stringify({ path: emulator.path }) + '\n');
    ctx.note(`emulated ${str(values, 'chip')} on ${emulator.path}${link ? ` (also ${link})` : ''}; Ctrl-C stops it`);

    const stopped = new Promise<'signal'>((resolve) => {
      const onSignal = () => resolve('signal');
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    const why = await Promise.race([stopped, emulator.exited.then(() => 'exited' as const)]);
    const stats = await emulator.stop();
    if (why === 'exited') throw new TransportError('the emulator stopped unexpectedly');
    return { path: emulator.path, ...(stats ? { stats } : {}) };
  },
  format: (r: EmulateResult) => (r.stats ? `stopped; ${r.stats.bytesIn} bytes in, ${r.stats.bytesOut} bytes out` : 'stopped'),
};
