/**
 * Adaptive concurrency end to end: whole jobs through a proxy that answers
 * copies above 150 a second with SlowDown, as S3 does above a prefix's
 * limit. Two copy invocations of 64 copies in flight could send thousands a
 * second; the copiers must back off to near the limit and still copy
 * everything. Measured in requests, never in wall-clock time.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import type { ObjectStore } from "../../lambdas/core/ports.ts";
import { awkwardKeys, generatedKeys } from "../../scripts/lib/seed.ts";
import { type LocalJobOptions, runLocalJob } from "../../scripts/local/job.ts";
import { assertSameObjects, seedBuckets, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { startThrottleProxy, type ThrottleProxy } from "../support/throttleProxy.ts";

const COPIES_PER_SECOND = 150;
const BURST = 15;
const COPY_CONCURRENCY = 64;
const COPY_INVOCATIONS = 2;
/** Copies accepted before the copiers count as settled: 2 s at the limit, whatever the clock says. */
const SETTLED_AFTER = 300;

/**
 * Copies in flight at the copiers (between the copier and S3, so at most
 * what their limiters allow), watched from the store port.
 */
class CopyGauge {
  inFlight = 0;
  peak = 0;
  /** Most in flight among copies started once the proxy had accepted SETTLED_AFTER. */
  settledPeak = 0;
  private settledSum = 0;
  private settledStarts = 0;

  constructor(private readonly proxy: ThrottleProxy) {}

  /** Mean in flight as those copies started. */
  get settledMean(): number {
    return this.settledStarts === 0 ? 0 : this.settledSum / this.settledStarts;
  }

  wrap(store: ObjectStore): ObjectStore {
    return {
      listPage: (request) => store.listPage(request),
      copy: async (request) => {
        this.inFlight++;
        this.peak = Math.max(this.peak, this.inFlight);
        if (this.proxy.accepted >= SETTLED_AFTER) {
          this.settledPeak = Math.max(this.settledPeak, this.inFlight);
          this.settledSum += this.inFlight;
          this.settledStarts++;
        }
        try {
          return await store.copy(request);
        } finally {
          this.inFlight--;
        }
      },
    };
  }
}

/** The store as a copier that does not know SlowDown: every throttle reaches it as an InternalError. */
function deafToSlowDown(store: ObjectStore): ObjectStore {
  return {
    listPage: (request) => store.listPage(request),
    copy: async (request) => {
      try {
        return await store.copy(request);
      } catch (err) {
        if (err instanceof Error && err.name === "SlowDown") {
          throw Object.assign(new Error("We encountered an internal error."), {
            name: "InternalError",
            $metadata: { httpStatusCode: 500 },
          });
        }
        throw err;
      }
    },
  };
}

const throttledShare = (proxy: ThrottleProxy) => proxy.throttled / (proxy.accepted + proxy.throttled);

/** What a run did, for the test report. */
function figures(proxy: ThrottleProxy, gauge: CopyGauge): string {
  const later = proxy.seconds.slice(1);
  return [
    `copy requests ${proxy.accepted + proxy.throttled}: ${proxy.accepted} accepted, ${proxy.throttled} throttled (${throttledShare(proxy).toFixed(3)})`,
    `in flight at the copiers: peak ${gauge.peak}, settled peak ${gauge.settledPeak}, settled mean ${gauge.settledMean.toFixed(1)}`,
    `in flight at the proxy: peak ${proxy.peakInFlight}, after the first second ${Math.max(0, ...later.map((s) => s.peakInFlight))}`,
    `per second accepted/throttled: ${proxy.seconds.map((s) => `${s.accepted}/${s.throttled}`).join(" ")}`,
  ].join("; ");
}

describe("adaptive concurrency", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  async function seeded(count: number) {
    const keys = [...awkwardKeys(), ...generatedKeys(count)];
    return { ...(await seedBuckets(emulator, "aimd", keys)), keys };
  }

  /** Runs a job through a fresh throttle proxy; `extra` may add options that watch the proxy. */
  async function throttledJob(source: string, destination: string, extra: (proxy: ThrottleProxy) => Partial<LocalJobOptions>) {
    const proxy = await startThrottleProxy({
      target: emulator.endpoint,
      copiesPerSecond: COPIES_PER_SECOND,
      burst: BURST,
      // S3 takes tens of ms for a copy; the emulator takes a few, at which 150 copies/s
      // need less than one in flight and a concurrency limit has nothing to settle on.
      copyLatencyMs: 40,
    });
    const gauge = new CopyGauge(proxy);
    const more = extra(proxy);
    try {
      const result = await runLocalJob({
        source: { bucket: source, prefix: "" },
        destination: { bucket: destination, prefix: "" },
        endpoint: proxy.endpoint,
        // One SDK attempt: the copier retries on its own, and SDK retries would hide the SlowDowns from its limiter.
        s3: createS3Client({ endpoint: proxy.endpoint, maxAttempts: 1, maxSockets: COPY_CONCURRENCY * COPY_INVOCATIONS + 32 }),
        sqs: createSqsClient({ endpoint: proxy.endpoint }),
        copyConcurrency: COPY_CONCURRENCY,
        copyInvocations: COPY_INVOCATIONS,
        logLevel: "SILENT",
        ...more,
        wrapStore: (store) => gauge.wrap(more.wrapStore ? more.wrapStore(store) : store),
      });
      return { result, proxy, gauge };
    } finally {
      await proxy.close();
    }
  }

  it("backs off to near the proxy's copy rate, keeps SlowDowns few, and copies every key", async (t) => {
    // Prepare
    const { source, destination, keys } = await seeded(2_000);

    // Act
    const { result, proxy, gauge } = await throttledJob(source, destination, () => ({}));

    // Assess: everything copied, intact.
    t.diagnostic(figures(proxy, gauge));
    assert.equal(result.complete, true);
    assert.deepEqual(
      { listed: result.listed, copied: result.copied, failed: result.failed, vanished: result.vanished },
      { listed: keys.length, copied: keys.length, failed: 0, vanished: 0 },
    );
    await assertSameObjects(emulator.s3, source, destination, keys.length);
    // The proxy held its rate (a token bucket never lets more than rate + burst through in a second),
    // and the listing and the queues went through it untouched.
    assert.ok(proxy.accepted >= keys.length);
    for (const [i, s] of proxy.seconds.entries()) assert.ok(s.accepted <= COPIES_PER_SECOND + BURST, `second ${i}: ${s.accepted} accepted`);
    assert.ok(proxy.forwarded > proxy.accepted);
    // AIMD around the ~7 copies in flight that 150/s at ~45 ms takes: few SlowDowns, most of them in the
    // first burst (each invocation's limiter starts at its maximum, as a cold Lambda's does), where a
    // copier that kept 128 copies in flight is throttled about half the time or more (the test below).
    assert.ok(
      throttledShare(proxy) < 0.2,
      `${proxy.throttled} of ${proxy.accepted + proxy.throttled} copy requests throttled (${throttledShare(proxy).toFixed(3)})`,
    );
    // The limiters backed off: they started with all their slots busy, and settled far below that.
    assert.ok(gauge.peak >= COPY_CONCURRENCY / 2, `peak ${gauge.peak} copies in flight at the start`);
    assert.ok(gauge.settledPeak <= COPY_CONCURRENCY / 2, `${gauge.settledPeak} copies in flight once settled`);
  });

  it("storms the same proxy when the copiers' limiters never hear SlowDown", async (t) => {
    // Prepare: the same job, but every SlowDown reaches the copier as an InternalError (retried, not
    // backed off from); halted once the proxy has let SETTLED_AFTER + 300 copies through, as it would take
    // long to finish.
    const { source, destination } = await seeded(2_000);
    const jobId = "aimd-deaf";
    const halt = new LocalHaltSignal();

    // Act
    const { result, proxy, gauge } = await throttledJob(source, destination, (watched) => ({
      jobId,
      halt,
      pollMs: 50,
      wrapStore: deafToSlowDown,
      onProgress: () => {
        if (watched.accepted >= SETTLED_AFTER + 300) halt.halt(jobId);
      },
    }));

    // Assess: it stopped where it was told...
    t.diagnostic(figures(proxy, gauge));
    assert.equal(result.haltedEarly, true);
    // ...and most of its copy requests were SlowDowns, its limiters still at their max.
    assert.ok(
      throttledShare(proxy) > 0.25,
      `${proxy.throttled} of ${proxy.accepted + proxy.throttled} copy requests throttled (${throttledShare(proxy).toFixed(3)})`,
    );
    assert.ok(gauge.settledPeak >= (COPY_CONCURRENCY * 3) / 4, `${gauge.settledPeak} copies in flight once settled`);
  });
});
