/**
 * `npm run bench` with tiny numbers, as an operator runs it: every figure is
 * in the JSON last line, the counts agree with each other, the chart is an
 * SVG. Timings are printed by the bench, never asserted here.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HeadBucketCommand } from "@aws-sdk/client-s3";
import { createS3Client } from "../../lambdas/aws/clients.ts";
import { RequestCounter, S3_OPERATIONS, SQS_OPERATIONS, s3Operation, sqsOperation, wireS3Command } from "../../scripts/bench/requests.ts";
import { assertOneLineError, lastJson, runOperator } from "../support/localStack.ts";

const OBJECTS = 300;

type Json = Record<string, unknown>;
const obj = (v: unknown, what: string): Json => {
  assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), `${what} is not an object`);
  return v as Json;
};
const num = (v: unknown, what: string): number => {
  assert.equal(typeof v, "number", `${what} is not a number`);
  return v as number;
};

function assertPhase(phase: Json, name: string): void {
  for (const field of [
    "objects",
    "copied",
    "failed",
    "seconds",
    "objectsPerSecond",
    "objectsPerSecondWhileCopying",
    "beforeFirstCopySeconds",
    "afterLastCopySeconds",
    "copiesInFlight",
    "maxCopiesInFlight",
    "ranges",
    "maxRssMiB",
    "peakHeapMiB",
  ])
    num(phase[field], `${name}.${field}`);
  assert.ok(phase.peakLiveHeapMiB === null || typeof phase.peakLiveHeapMiB === "number");
  const cpu = obj(phase.cpu, `${name}.cpu`);
  num(cpu.phaseMsPerObject, `${name}.cpu.phaseMsPerObject`);
  num(cpu.phaseBusy, `${name}.cpu.phaseBusy`);
  assert.equal(phase.complete, true, `${name} complete`);
  const requests = obj(phase.requests, `${name}.requests`);
  const perObject = obj(phase.requestsPerObject, `${name}.requestsPerObject`);
  const s3 = obj(requests.s3, `${name}.requests.s3`);
  const sqs = obj(requests.sqs, `${name}.requests.sqs`);
  for (const op of S3_OPERATIONS) num(s3[op], `${name}.requests.s3.${op}`);
  for (const op of SQS_OPERATIONS) num(sqs[op], `${name}.requests.sqs.${op}`);
  for (const total of ["s3Total", "sqsTotal", "total"]) num(perObject[total], `${name}.requestsPerObject.${total}`);
  // byCommand is the same count, by SDK command: the classes add up to it.
  const byCommand = Object.values(obj(requests.byCommand, `${name}.byCommand`)).reduce((n: number, v) => n + num(v, "byCommand"), 0);
  const classes = [...S3_OPERATIONS.map((op) => s3[op]), ...SQS_OPERATIONS.map((op) => sqs[op])].reduce(
    (n: number, v) => n + num(v, "op"),
    0,
  );
  assert.equal(classes, byCommand, `${name}: operation classes add up to the commands counted`);
}

/** Whether this machine has rclone (Debian: apt-get install rclone): the peer phase runs, or is skipped with a note. */
const RCLONE_PRESENT = spawnSync("rclone", ["version"], { stdio: "ignore" }).status === 0;

/** The peer's figures when rclone ran, else the note why not; never both. */
function assertPeer(out: Json, zero: Json, present: boolean): void {
  const peer = obj(out.peer, "peer");
  if (!present) {
    assert.equal(typeof peer.skipped, "string", "a skipped peer says why");
    assert.equal(zero.peer, null);
    assert.equal(peer.complete, null);
    return;
  }
  assert.equal(peer.skipped, null);
  assert.match(String(peer.rclone), /^rclone v/);
  assert.match(String(peer.command), /^rclone copy .* --transfers 64 --checkers 64/);
  assert.equal(peer.complete, true);
  const row = obj(zero.peer, "zeroLatency.peer");
  assert.ok(num(row.objectsPerSecond, "peer objects/s") > 0);
  assert.ok(num(row.cpuMsPerObject, "peer CPU ms/object") > 0);
  for (const run of peer.runs as Json[]) assert.equal(run.copied, run.objects, "the peer copied every object");
}

describe("npm run bench", () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-bench-"));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs pipeline, ceiling, baseline, sync and a sweep and reports every figure as JSON", async () => {
    const chart = join(dir, "chart", "throughput.svg");
    const run = await runOperator(
      "bench",
      ["--objects", String(OBJECTS), "--memory-objects", String(2 * OBJECTS), "--sweep", "4,8", "--chart", chart, "--json"],
      "",
    );

    assert.equal(run.code, 0, run.stderr);
    const out = lastJson(run);
    assert.equal(out.objects, OBJECTS);
    assert.equal(out.complete, true);
    const pipeline = obj(out.pipeline, "pipeline");
    const ceiling = obj(out.ceiling, "ceiling");
    const baseline = obj(out.baseline, "baseline");
    for (const [name, phase] of [
      ["pipeline", pipeline],
      ["ceiling", ceiling],
      ["baseline", baseline],
    ] as const) {
      assertPhase(phase, name);
      assert.equal(phase.copied, OBJECTS, `${name} copied every object`);
      const s3 = obj(obj(phase.requests, name).s3, name);
      assert.ok(num(s3.copy, `${name} copies`) >= OBJECTS, `${name}: at least one CopyObject per object`);
      assert.ok(num(obj(phase.requestsPerObject, name).s3Total, name) >= 1);
    }
    // The ceiling is nothing but copies; the pipeline lists; the baseline lists each of its 95 prefixes.
    assert.deepEqual(obj(ceiling.requests, "ceiling").byCommand, { "s3:CopyObject": OBJECTS });
    assert.ok(num(obj(obj(pipeline.requests, "p").s3, "p").list, "pipeline lists") >= 1);
    assert.ok(num(obj(obj(pipeline.requests, "p").sqs, "p").send, "pipeline sends") >= 1);
    assert.ok(num(obj(obj(baseline.requests, "b").s3, "b").list, "baseline lists") >= 95);

    const sync = obj(out.sync, "sync");
    assertPhase(sync, "sync");
    assert.equal(obj(obj(sync.requests, "sync").s3, "sync").copy, 0, "an unchanged bucket needs no copy");

    const ratios = obj(out.ratios, "ratios");
    num(ratios.pipelineVsCeiling, "pipelineVsCeiling");
    num(ratios.pipelineVsBaseline, "pipelineVsBaseline");
    // The targets are judged while copying; the whole runs' ratios come too.
    const copying = obj(ratios.objectsPerSecondWhileCopying, "objectsPerSecondWhileCopying");
    assert.equal(ratios.pipelineVsCeiling, Math.round((num(copying.pipeline, "p") / num(copying.ceiling, "c")) * 1000) / 1000);
    const whole = obj(ratios.wholeRun, "wholeRun");
    num(whole.pipelineVsCeiling, "wholeRun.pipelineVsCeiling");
    num(whole.pipelineVsBaseline, "wholeRun.pipelineVsBaseline");
    const targets = obj(out.targets, "targets");
    for (const name of [
      "pipelineVsCeiling",
      "pipelineVsBaseline",
      "s3RequestsPerObject",
      "sqsRequestsPerObject",
      "syncRequestsPerObject",
      "memoryRatio",
      "pipelineVsPeer",
      "cpuPerObjectVsPeer",
    ]) {
      const t = obj(targets[name], `targets.${name}`);
      assert.equal(typeof t.name, "string");
      num(t.limit, `targets.${name}.limit`);
      assert.ok(t.value === null || typeof t.value === "number");
      assert.ok(t.met === null || typeof t.met === "boolean");
    }
    // The larger run is on by default: memory is compared with it, and the sync judged at its size.
    const memory = obj(out.memory, "memory");
    assert.equal(memory.objects, 2 * OBJECTS);
    assertPhase(obj(memory.pipeline, "memory.pipeline"), "memory.pipeline");
    assert.equal(obj(memory.pipeline, "memory.pipeline").copied, 2 * OBJECTS);
    num(obj(targets.memoryRatio, "memoryRatio").value, "memoryRatio.value");
    const syncTarget = obj(targets.syncRequestsPerObject, "syncRequestsPerObject");
    assert.match(String(syncTarget.name), new RegExp(`of ${2 * OBJECTS} objects`));
    const judged = num(obj(obj(memory.sync, "memory.sync").requestsPerObject, "rpo").total, "memory.sync total");
    assert.ok(Math.abs(num(syncTarget.value, "sync target") - judged) < 1e-4, "the sync target is the larger run's figure");

    // With no added latency: pipeline, ceiling and the peer side by side, or a note saying why the peer was skipped.
    const zero = obj(out.zeroLatency, "zeroLatency");
    assert.equal(zero.latencyMs, 0);
    for (const name of ["pipeline", "ceiling"]) {
      const row = obj(zero[name], `zeroLatency.${name}`);
      assert.ok(num(row.objectsPerSecond, `${name} objects/s`) > 0);
      assert.ok(num(row.cpuMsPerObject, `${name} CPU ms/object`) > 0);
      // Counted on the wire (the lean CopyObject path has no middleware to count it): a copy per object at least.
      const wire = obj(row.requestsPerObject, `zeroLatency.${name}.requestsPerObject`);
      assert.ok(num(obj(wire.s3, "s3").copy, `${name} copies on the wire`) >= 1, `${name}: every object's CopyObject seen on the wire`);
    }
    // The ceiling sends nothing but copies, and the pipeline lists and uses its queues, all seen on the wire.
    const wireCeiling = obj(obj(zero.ceiling, "c").requestsPerObject, "c.rpo");
    assert.equal(wireCeiling.s3Total, obj(wireCeiling.s3, "s3").copy);
    const wirePipeline = obj(obj(zero.pipeline, "p").requestsPerObject, "p.rpo");
    assert.ok(num(obj(wirePipeline.s3, "s3").list, "p list") > 0 && num(wirePipeline.sqsTotal, "p sqs") > 0);
    for (const name of ["leanS3RequestsPerObject", "leanSqsRequestsPerObject"]) num(obj(targets[name], name).value, `${name}.value`);
    assertPeer(out, zero, RCLONE_PRESENT);
    if (RCLONE_PRESENT) {
      // The check run counted rclone's requests: a server-side CopyObject per object, nothing downloaded.
      const peer = obj(out.peer, "peer");
      assert.equal(peer.serverSideCopy, true);
      const s3 = obj(obj(peer.requests, "peer.requests").s3, "peer.requests.s3");
      assert.equal(s3.copy, OBJECTS);
      assert.equal(s3.get, 0);
      num(obj(targets.pipelineVsPeer, "pipelineVsPeer").value, "pipelineVsPeer.value");
      num(obj(targets.cpuPerObjectVsPeer, "cpuPerObjectVsPeer").value, "cpuPerObjectVsPeer.value");
    }

    const sweep = out.sweep as Json[];
    assert.equal(sweep.length, 2);
    assert.deepEqual(
      sweep.map((p) => p.inFlight),
      [4, 8],
    );
    for (const p of sweep) {
      num(p.pipeline, "sweep pipeline");
      num(p.ceiling, "sweep ceiling");
    }
    assert.equal(out.chart, chart);
    const svg = readFileSync(chart, "utf8");
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.equal((svg.match(/<path /g) ?? []).length, 2, "one line per series");
    assert.doesNotMatch(svg, /NaN|undefined/);
  });

  it("skips the peer with a note, not a failure, when rclone is missing; --skip-peer skips it outright", async () => {
    const common = [
      "--objects",
      "50",
      "--repeat",
      "1",
      "--skip-memory",
      "--skip-baseline",
      "--skip-sync",
      "--skip-sweep",
      "--skip-cold-start",
      "--json",
    ];
    const missing = await runOperator("bench", [...common, "--latency-ms", "0", "--rclone", join(dir, "no-such-rclone")], "");
    assert.equal(missing.code, 0, missing.stderr);
    const out = lastJson(missing);
    const zero = obj(out.zeroLatency, "zeroLatency");
    assertPeer(out, zero, false);
    assert.match(String(obj(out.peer, "peer").skipped), /no-such-rclone not found/);
    assert.match(missing.stdout, /peer +skipped: .*no-such-rclone not found/);
    const targets = obj(out.targets, "targets");
    assert.equal(obj(targets.pipelineVsPeer, "pipelineVsPeer").met, null);
    assert.equal(obj(targets.cpuPerObjectVsPeer, "cpuPerObjectVsPeer").met, null);

    const skipped = await runOperator("bench", [...common, "--skip-peer"], "");
    assert.equal(skipped.code, 0, skipped.stderr);
    const quiet = lastJson(skipped);
    assert.equal(quiet.zeroLatency, null);
    assert.equal(obj(quiet.peer, "peer").skipped, "--skip-peer");
    assert.deepEqual(obj(quiet.peer, "peer").runs, []);
  });

  it("prints its usage with --help", async () => {
    const run = await runOperator("bench", ["--help"], "");
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^usage: npm run bench/);
  });

  it("refuses bad arguments with one line and exit 2", async () => {
    const zero = await runOperator("bench", ["--objects", "0"], "");
    assert.equal(zero.code, 2);
    assertOneLineError(zero, /--objects must be a positive integer/);
    const size = await runOperator("bench", ["--size", "lots"], "");
    assert.equal(size.code, 2);
    assertOneLineError(size, /--size/);
    const unknown = await runOperator("bench", ["--bogus"], "");
    assert.equal(unknown.code, 2);
    assertOneLineError(unknown, /bogus/);
  });
});

describe("bench request counting", () => {
  it("classifies commands into the operations the targets count", () => {
    assert.equal(s3Operation("CopyObject"), "copy");
    assert.equal(s3Operation("UploadPartCopy"), "copy");
    assert.equal(s3Operation("PutObject"), "put");
    assert.equal(s3Operation("ListObjectsV2"), "list");
    assert.equal(s3Operation("HeadBucket"), "other");
    assert.equal(sqsOperation("SendMessageBatch"), "send");
    assert.equal(sqsOperation("DeleteMessageBatch"), "delete");
    assert.equal(sqsOperation("ReceiveMessage"), "receive");
    assert.equal(sqsOperation("CreateQueue"), "other");
    // On the wire, as the SDK's and the lean path's requests go out.
    assert.equal(wireS3Command("PUT", "/b/k%20y?x-id=CopyObject"), "CopyObject");
    assert.equal(wireS3Command("PUT", "/b/k?partNumber=2&uploadId=u&x-id=UploadPartCopy"), "UploadPartCopy");
    assert.equal(wireS3Command("GET", "/b?list-type=2&prefix=a"), "ListObjectsV2");
    assert.equal(wireS3Command("HEAD", "/b/k"), "HeadObject");
    assert.equal(wireS3Command("POST", "/b?delete"), "POST?");
  });

  it("counts every attempt on the wire, the SDK's retries included", async () => {
    let served = 0;
    const server = http.createServer((req, res) => {
      served++;
      req.resume();
      // Two 500s, then a success: the SDK (3 attempts) retries twice.
      res.writeHead(served <= 2 ? 500 : 200, { "content-type": "application/xml" });
      res.end(served <= 2 ? "<Error><Code>InternalError</Code><Message>x</Message></Error>" : "");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const s3 = createS3Client({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 3 });
    const counter = new RequestCounter();
    counter.attach("s3", s3);
    try {
      await s3.send(new HeadBucketCommand({ Bucket: "b" }));
      assert.equal(served, 3);
      assert.equal(counter.counts.s3.other, 3);
      assert.deepEqual(counter.counts.byCommand, { "s3:HeadBucket": 3 });
    } finally {
      s3.destroy();
      server.close();
    }
  });
});
