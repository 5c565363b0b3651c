/**
 * Live changes converge: whatever order and however often events arrive, once
 * every event has been handled the destination holds what the source holds
 * (for the job's keys), because each decision reads both buckets, never the event.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DEFAULT_BATCH_LIMITS } from "../../lambdas/core/batching.ts";
import { type ConvergeDeps, convergeKeys, decide, type LiveJob, liveJobId } from "../../lambdas/core/converge.ts";
import { DEFAULT_COPY_POLICY } from "../../lambdas/core/copier.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import type { JobSpec } from "../../lambdas/core/jobSpec.ts";
import { AdaptiveLimiter } from "../../lambdas/core/limiter.ts";
import type { BatchOutcome, ObjectHead, OutgoingMessage, QueueName } from "../../lambdas/core/ports.ts";
import { parseS3Event, s3EventBody } from "../../lambdas/core/s3Events.ts";
import { loadAwkwardKeys } from "./arbitraries.ts";

interface Obj {
  readonly body: string;
  readonly metadata?: Record<string, string>;
}

const notFound = () => Object.assign(new Error("Not Found"), { name: "NotFound", $metadata: { httpStatusCode: 404 } });
const etagOf = (body: string) => `"${Buffer.from(body).toString("hex").slice(0, 32)}"`;

/** Two buckets in memory, with the ports converge needs over them. */
class World {
  readonly buckets = new Map<string, Map<string, Obj>>([
    ["src", new Map()],
    ["dst", new Map()],
  ]);
  readonly sent: { queue: QueueName; messages: readonly OutgoingMessage[] }[] = [];
  readonly outcomes: BatchOutcome[] = [];
  readonly specs = new Map<string, JobSpec>();
  deletes = 0;

  bucket(name: string): Map<string, Obj> {
    const b = this.buckets.get(name);
    if (!b) throw Object.assign(new Error("no bucket"), { name: "NoSuchBucket" });
    return b;
  }

  head = async (bucket: string, key: string): Promise<ObjectHead> => {
    const o = this.bucket(bucket).get(key);
    if (!o) throw notFound();
    return { size: o.body.length, etag: etagOf(o.body), metadata: o.metadata ?? {} };
  };

  deps(job: LiveJob, allowDelete: boolean, now = new Date("2025-03-04T05:06:07Z")): ConvergeDeps {
    const heads = { head: this.head };
    return {
      job,
      allowDelete,
      sourceHeads: heads,
      destinationHeads: heads,
      deleter: {
        deleteObject: async (bucket, key) => {
          this.deletes++;
          this.bucket(bucket).delete(key);
        },
      },
      specs: {
        readSpec: async (id) => this.specs.get(id),
        writeSpec: async (spec) => void this.specs.set(spec.id, spec),
      },
      now: () => now,
      sleep: async () => undefined,
      copier: {
        store: {
          listPage: async () => ({ objects: [] }),
          copy: async (r) => {
            const o = this.bucket(r.sourceBucket).get(r.sourceKey);
            if (!o) throw Object.assign(new Error("NoSuchKey"), { name: "NoSuchKey" });
            this.bucket(r.destinationBucket).set(r.destinationKey, o);
          },
        },
        sink: { send: async (queue, messages) => void this.sent.push({ queue, messages }) },
        ledger: {
          recordPortion: async () => undefined,
          recordBatch: async (o) => void this.outcomes.push(o),
          recordBatches: async (os) => void this.outcomes.push(...os),
        },
        halt: new LocalHaltSignal(),
        limiter: new AdaptiveLimiter({ max: 8 }),
        policy: DEFAULT_COPY_POLICY,
        limits: DEFAULT_BATCH_LIMITS,
        remainingMs: () => 600_000,
        safetyMs: 0,
        sleep: async () => undefined,
      },
    };
  }
}

const JOB: LiveJob = { source: { bucket: "src", prefix: "in/" }, destination: { bucket: "dst", prefix: "out/" } };
const awkward = loadAwkwardKeys().filter((k) => Buffer.byteLength(`in/${k}`) <= 1024);
const inside = ["in/a", "in/b", ...awkward.slice(0, 12).map((k) => `in/${k}`)];
const KEYS = [...inside, "elsewhere/x"];

type Op = { readonly kind: "put"; readonly key: string; readonly body: string } | { readonly kind: "delete"; readonly key: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("put" as const), key: fc.constantFrom(...KEYS), body: fc.constantFrom("1", "22", "333", "4444") }),
  fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom(...KEYS) }),
);

/** Each op's event, delivered `delay` steps after the op and `copies` times, in batches of what arrives together. */
const scenario = fc.array(fc.record({ op, delay: fc.nat({ max: 6 }), copies: fc.integer({ min: 1, max: 3 }) }), {
  minLength: 1,
  maxLength: 25,
});

async function play(
  world: World,
  plan: readonly { op: Op; delay: number; copies: number }[],
  allowDelete: boolean,
  order: (bodies: string[]) => string[],
): Promise<void> {
  const due = new Map<number, string[]>();
  plan.forEach((p, t) => {
    const body = s3EventBody("src", p.op.key, p.op.kind === "put" ? "Object Created" : "Object Deleted");
    const at = t + p.delay;
    due.set(at, [...(due.get(at) ?? []), ...Array.from({ length: p.copies }, () => body)]);
  });
  const last = Math.max(...due.keys());
  for (let t = 0; t <= last; t++) {
    const p = plan[t];
    if (p) {
      const src = world.bucket("src");
      if (p.op.kind === "put") src.set(p.op.key, { body: p.op.body });
      else src.delete(p.op.key);
    }
    const bodies = order(due.get(t) ?? []);
    if (bodies.length === 0) continue;
    const result = await convergeKeys(bodies.map(parseS3Event), `t${t}`, world.deps(JOB, allowDelete));
    assert.equal(result.unsettled.size, 0, "every key settles against healthy buckets");
  }
}

/** The source's keys under the job's prefix, mapped to the destination, with their bodies. */
function expected(world: World): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, o] of world.bucket("src")) if (k.startsWith("in/")) out.set(`out/${k.slice(3)}`, o.body);
  return out;
}

function actual(world: World): Map<string, string> {
  return new Map([...world.bucket("dst")].map(([k, o]) => [k, o.body]));
}

describe("converge (live changes)", () => {
  it("leaves the destination equal to the source whatever the order and duplication of events", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, fc.func(fc.integer()), async (plan, rank) => {
        const world = new World();
        // Shuffled by a generated ranking: out of order within every batch too.
        const order = (bodies: string[]) =>
          bodies
            .map((b, i) => ({ b, r: rank(b, i) }))
            .sort((x, y) => x.r - y.r)
            .map((x) => x.b);
        await play(world, plan, true, order);
        assert.deepEqual(actual(world), expected(world));
        assert.equal(world.sent.length, 0, "nothing retried or parked");
      }),
      { numRuns: 150 },
    );
  });

  it("never deletes without liveDelete, and keeps every source key current", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (plan) => {
        const world = new World();
        await play(world, plan, false, (b) => [...b].reverse());
        assert.equal(world.deletes, 0);
        const dst = actual(world);
        for (const [k, body] of expected(world)) assert.equal(dst.get(k), body, k);
      }),
      { numRuns: 100 },
    );
  });

  it("copies every awkward key and records the day's job, its spec written once", async () => {
    const world = new World();
    for (const k of awkward) world.bucket("src").set(`in/${k}`, { body: k });
    const hints = awkward.flatMap((k) => [parseS3Event(s3EventBody("src", `in/${k}`, "Object Created"))]);
    const r = await convergeKeys([...hints, ...hints], "m1", world.deps(JOB, false));
    assert.equal(r.jobId, "live-20250304");
    assert.equal(r.copied.length, awkward.length, "each key once, duplicates merged");
    assert.deepEqual(actual(world), expected(world));
    assert.equal(world.specs.get("live-20250304")?.mode, "live");
    assert.deepEqual(
      world.outcomes.map((o) => [o.jobId, o.copied, o.copiedKeys?.length]),
      [["live-20250304", awkward.length, awkward.length]],
    );
    const again = await convergeKeys(hints, "m2", world.deps(JOB, false));
    assert.equal(again.unchanged.length, awkward.length, "a repeat finds every key current");
    assert.equal(world.outcomes.at(-1)?.unchanged, awkward.length);
  });

  it("ignores keys of another prefix or left out by --exclude, and counts them", async () => {
    const world = new World();
    world.bucket("src").set("in/skip.tmp", { body: "x" });
    world.bucket("src").set("other/y", { body: "y" });
    const job: LiveJob = { ...JOB, options: { exclude: ["*.tmp"] } };
    const r = await convergeKeys(
      [
        { bucket: "src", key: "in/skip.tmp" },
        { bucket: "src", key: "other/y" },
        { bucket: "elsewhere", key: "in/z" },
      ],
      "m",
      world.deps(job, true),
    );
    assert.deepEqual(Object.fromEntries(r.ignored), { "in/skip.tmp": "filter", "other/y": "prefix", "in/z": "bucket" });
    assert.equal(world.bucket("dst").size, 0);
    assert.equal(world.outcomes.length, 0, "nothing to record");
  });

  it("never copies over or deletes a ledger's records: a source or destination key of bookkeeping is ignored", async () => {
    const world = new World();
    const whole: LiveJob = { source: { bucket: "src", prefix: "" }, destination: { bucket: "dst", prefix: "" } };
    const records = [
      ".s3-fanout/jobs/j1/spec.json",
      "jobs/20250304-000000-abcd/spec.json",
      "ledger/jobs/j1/batches/b1.json",
      "schedules/s/runs/j1.json",
    ];
    for (const key of records) world.bucket("dst").set(key, { body: "record" });
    world.bucket("src").set(records[0] ?? "", { body: "other" }); // would be copied over
    world.bucket("src").set("plain", { body: "p" });
    const r = await convergeKeys(
      [...records, "plain"].map((key) => ({ bucket: "src", key })),
      "m",
      world.deps(whole, true),
    );
    for (const key of records) assert.equal(world.bucket("dst").get(key)?.body, "record", key);
    assert.equal(world.deletes, 0);
    assert.deepEqual(Object.fromEntries(r.ignored), Object.fromEntries(records.map((k) => [k, "ledger"])));
    assert.deepEqual(r.copied, ["plain"]);

    // A source key that is no record but maps to one in the destination, and the other way round.
    const into: LiveJob = { source: { bucket: "src", prefix: "x-" }, destination: { bucket: "dst", prefix: "jobs/" } };
    assert.deepEqual(await decide("src", "x-j1/spec.json", world.deps(into, true)), {
      kind: "ignored",
      key: "x-j1/spec.json",
      reason: "ledger",
    });
    const outOf: LiveJob = { source: { bucket: "src", prefix: "jobs/" }, destination: { bucket: "dst", prefix: "" } };
    assert.deepEqual(await decide("src", "jobs/j1/halt.json", world.deps(outOf, true)), {
      kind: "ignored",
      key: "jobs/j1/halt.json",
      reason: "ledger",
    });
  });

  it("deletes a key the source lacks only after a fresh HEAD, and records it", async () => {
    const world = new World();
    world.bucket("dst").set("out/gone", { body: "old" });
    const r = await convergeKeys([{ bucket: "src", key: "in/gone" }], "m", world.deps(JOB, true));
    assert.deepEqual(r.deleted, ["in/gone"]);
    assert.deepEqual(world.outcomes[0]?.deletedKeys, ["in/gone"]);
    assert.equal(world.bucket("dst").has("out/gone"), false);
  });

  it("keeps a destination key when the source has it again by the time of the delete", async () => {
    const world = new World();
    world.bucket("dst").set("out/k", { body: "old" });
    const deps = world.deps(JOB, true);
    let heads = 0;
    const sourceHeads = {
      head: async (bucket: string, key: string) => {
        heads++;
        // The first HEAD sees no source object; it is written again before the delete's HEAD.
        if (heads === 2) world.bucket("src").set("in/k", { body: "new" });
        return world.head(bucket, key);
      },
    };
    const r = await convergeKeys([{ bucket: "src", key: "in/k" }], "m", { ...deps, sourceHeads });
    assert.deepEqual(r.deleted, []);
    assert.deepEqual(r.unchanged, ["in/k"]);
    assert.equal(world.deletes, 0);
  });

  it("takes a copy by parts that records the source ETag as current", async () => {
    const world = new World();
    world.bucket("src").set("in/big", { body: "abc" });
    const sourceEtag = etagOf("abc");
    const destinationHeads = {
      head: async () => ({ size: 3, etag: '"0123456789abcdef0123456789abcdef-2"', metadata: { "s3fanout-source-etag": sourceEtag } }),
    };
    const d = await decide("src", "in/big", { ...world.deps(JOB, true), destinationHeads });
    assert.equal(d.kind, "unchanged");
  });

  it("fails the keys whose HEAD fails for good, and leaves the rest to settle", async () => {
    const world = new World();
    world.bucket("src").set("in/ok", { body: "1" });
    const denied = Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
    const sourceHeads = {
      head: async (bucket: string, key: string) => {
        if (key === "in/denied") throw denied;
        return world.head(bucket, key);
      },
    };
    const r = await convergeKeys(
      [
        { bucket: "src", key: "in/ok" },
        { bucket: "src", key: "in/denied" },
      ],
      "m",
      { ...world.deps(JOB, true), sourceHeads },
    );
    assert.deepEqual(r.copied, ["in/ok"]);
    assert.equal(r.unsettled.get("in/denied")?.name, "AccessDenied");
  });

  it("names the day in UTC", () => {
    assert.equal(liveJobId(new Date("2025-12-31T23:59:59Z")), "live-20251231");
    assert.equal(liveJobId(new Date("2026-01-01T00:00:00Z")), "live-20260101");
  });
});
