import { setFlagsFromString } from 'node:v8';

/**
 * V8's inlining budget, raised for the whole process. A media frame passes through a chain of
 * small methods (jitter buffer, playout, bridge, dialect, RTP session), and V8's defaults (a
 * function of at most 460 bytes of bytecode inlined, at most 920 inlined into one optimised
 * function) stop TurboFan part way along it: every call left is a frame set up, arguments
 * checked and a return. With these budgets the media worker spent 6-15 % less CPU per
 * call-second at 200 calls (bench/RESULTS.md, "V8's inlining budget"); larger ones gained a
 * few per cent more, at 10-30 MB more code and more compile work while calls ramp up.
 */
export const INLINING_FLAGS: Readonly<Record<string, number>> = {
  '--max-inlined-bytecode-size': 700,
  '--max-inlined-bytecode-size-cumulative': 3000,
};

/** The flags to set: ours, except any the operator gave node on its command line. */
export function inliningFlags(execArgv: readonly string[]): string[] {
  const given = (flag: string): boolean =>
    execArgv.some((arg) => {
      const name = arg.split('=')[0]?.replaceAll('_', '-');
      return name === flag;
    });
  return Object.entries(INLINING_FLAGS)
    .filter(([flag]) => !given(flag))
    .map(([flag, value]) => `${flag}=${value}`);
}

/**
 * Sets the budget before any gateway code is loaded (the commands load lazily), so nothing is
 * optimised under the defaults first. V8 flags are process-wide: media worker threads, started
 * later, compile under them too.
 */
export function tuneV8(execArgv: readonly string[] = process.execArgv): void {
  for (const flag of inliningFlags(execArgv)) setFlagsFromString(flag);
}
