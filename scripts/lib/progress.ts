/** A progress display on stderr: a bar on a terminal, a line every few seconds otherwise. */
import cliProgress from "cli-progress";
import type { JobSummary } from "../../lambdas/core/ledger.ts";

export interface Progress {
  update(summary: JobSummary): void;
  stop(): void;
}

export function jobProgress(enabled: boolean): Progress {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const started = Date.now();
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: "{bar} {done}/{listed} keys | {rate}/s | failed {failed} | {phase}",
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(1, 0, { done: 0, listed: 0, rate: 0, failed: 0, phase: "listing" });
    return {
      update: (s) => {
        const done = s.copied + s.failed + s.vanished;
        const rate = Math.round(done / Math.max(0.001, (Date.now() - started) / 1000));
        bar.setTotal(Math.max(1, s.listed));
        bar.update(done, { done, listed: s.listed, rate, failed: s.failed, phase: s.rangesCovered ? "copying" : "listing" });
      },
      stop: () => bar.stop(),
    };
  }
  let lastPrint = 0;
  return {
    update: (s) => {
      if (Date.now() - lastPrint < 2_000) return;
      lastPrint = Date.now();
      const done = s.copied + s.failed + s.vanished;
      process.stderr.write(
        `progress: listed ${s.listed}${s.rangesCovered ? "" : "+"}, copied ${s.copied}, failed ${s.failed}, vanished ${s.vanished}, ${done}/${s.listed} done\n`,
      );
    },
    stop: () => undefined,
  };
}

export interface CountProgress {
  /** Adds `n` to the count shown. */
  add(n: number): void;
  stop(): void;
}

/** A running count on stderr ("12000 objects listed, 3400/s"): a live line on a terminal, a line every few seconds otherwise. */
export function countProgress(enabled: boolean, what: string): CountProgress {
  if (!enabled) return { add: () => undefined, stop: () => undefined };
  const started = Date.now();
  let count = 0;
  const rate = () => Math.round(count / Math.max(0.001, (Date.now() - started) / 1000));
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: `{count} ${what} | {rate}/s`, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(1, 0, { count: 0, rate: 0 });
    return {
      add: (n) => {
        count += n;
        bar.update(0, { count, rate: rate() });
      },
      stop: () => bar.stop(),
    };
  }
  let lastPrint = Date.now();
  return {
    add: (n) => {
      count += n;
      if (Date.now() - lastPrint < 2_000) return;
      lastPrint = Date.now();
      process.stderr.write(`progress: ${count} ${what}, ${rate()}/s\n`);
    },
    stop: () => undefined,
  };
}
