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
