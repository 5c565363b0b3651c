/**
 * npm run plan -- --source s3://BUCKET[/PREFIX] [--manifest s3://BUCKET/KEY] [--endpoint URL] [--json]
 * A dry run: from a listing of the source (or its manifest), the objects, bytes and sizes of a job,
 * the requests it will make, their cost at list prices, and how long it should take. With
 * --sync --delete --dest, the destination's listing is merge-joined with the source's to count
 * what the job would delete. Nothing is copied, deleted, written or enqueued.
 */
import { createS3Client } from "../lambdas/aws/clients.ts";
import { DEFAULT_BATCH_LIMITS } from "../lambdas/core/batching.ts";
import { DEFAULT_MULTIPART } from "../lambdas/core/copyPlan.ts";
import { UsageError } from "../lambdas/core/errors.ts";
import { resolveJobOptions } from "../lambdas/core/jobOptions.ts";
import { DEFAULT_HEAD_CONCURRENCY } from "../lambdas/core/manifestLister.ts";
import type { JobRef } from "../lambdas/core/messages.ts";
import { type DeletionPlanEstimate, type JobPlan, type PlanCapacity, planDeletions, planJob } from "../lambdas/core/plan.ts";
import { S3_SCALING } from "../lambdas/core/s3Scaling.ts";
import { newJobId } from "../lambdas/core/selection.ts";
import { EXIT, endpointUrl, jobOptionsFromArgs, parseCommandArgs, positiveInt, runCommand } from "./lib/cli.ts";
import { MANIFEST_FLAGS, manifestFromArgs } from "./lib/operator.ts";
import { type Compared, DEFAULT_PRICES_FILE, loadPriceTable, type Tallied, tallyListing, tallyManifest } from "./lib/plan.ts";
import { checkBucket } from "./lib/preflight.ts";
import { countProgress } from "./lib/progress.ts";
import { formatS3Url, parseS3Url } from "./lib/s3url.ts";

/** The stack's defaults (lib/s3-fanout-stack.ts, lambdas/config.ts). */
const DEFAULTS = { concurrency: 50, copyConcurrency: 64, listConcurrency: 32, prefixes: 1 };

const USAGE = `usage: npm run plan -- --source s3://BUCKET[/PREFIX] [--manifest s3://BUCKET/KEY] [--endpoint URL] [--json]
       npm run plan -- --source s3://BUCKET[/PREFIX] --dest s3://BUCKET[/PREFIX] --sync --delete [--max-delete N] [--json]
  A dry run of a copy job: lists the source (or reads the manifest) and reports its objects, bytes,
  size distribution, the S3, SQS and Lambda requests the job will make, their cost at the list prices
  of the price table, a projected duration, and what S3 Batch Operations would charge for the same copy.
  Projections from list prices and the table's model assumptions, not a bill.
  --manifest URL            plan the keys an S3 Batch Operations CSV or S3 Inventory manifest.json names
                            (only rows naming the --source bucket under its prefix; Batch Operations rows
                            carry no size, so each is HEADed, as the list function will)
  --manifest-chunk SIZE     bytes of a plain CSV manifest per list message (default 64MiB)
  --concurrency N           copy function invocations at once (default ${DEFAULTS.concurrency}, the stack's copyMaxConcurrency)
  --copy-concurrency N      copies in flight per copy invocation (default ${DEFAULTS.copyConcurrency})
  --list-concurrency N      list function invocations at once (default ${DEFAULTS.listConcurrency})
  --prefixes N              partitioned prefixes S3 spreads the requests over (default ${DEFAULTS.prefixes}, the worst case):
                            S3 serves 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests a second per prefix,
                            assumed to double for a prefix kept busy 300 s (up to 64 x, the simulator's rule);
                            keys are listed in order, so at most --list-concurrency of them are written at once
  --multipart-threshold SIZE  copy objects above SIZE by parts (default 64MiB; always above 5GiB)
  --part-size SIZE          bytes per part, 5MiB-5GiB (default 64MiB; grown to fit 10,000 parts)
  --sync                    sync mode: the destination is listed too (assumed as large as the source);
                            copies are counted as if every object differed
  --dest URL                s3://BUCKET[/PREFIX] the job copies to (sizes the messages; needed by --delete)
  --delete                  with --sync and --dest: merge-join the source and destination listings, range by
                            range, and count the destination keys the source selection lacks (deleted, each
                            after a HEAD of the source; DeleteObject is free), the ledger records among them
                            (never deleted), and the source keys already identical in the destination
  --max-delete N            with --delete: a job that would delete more than N keys deletes none
  --include GLOB            plan only keys (below the source prefix) matching GLOB; repeatable
  --exclude GLOB            leave out keys matching GLOB; repeatable (* within a segment, ** across, ? one char)
  --prices FILE             price table (default config/prices.json)
  --endpoint URL            S3 endpoint (default AWS_ENDPOINT_URL, else AWS)
  --region REGION           (default AWS_REGION)
  --json                    last stdout line: {"objects","bytes","sizeHistogram","multipartObjects","parts",
                            "requests":{"s3":{...},"sqs":{...}},"cost":{"s3","sqs","lambda","total","perMillionObjects"},
                            "lambdaGbSeconds","projectedSeconds","bottleneck","batchOperations":{"cost",...},...};
                            with --delete also "destination", "compared":{"identical","toCopy"} and
                            "deletions":{"keys","protected","maxDelete","refused","requests":{"head","delete"},"cost"}
  --quiet                   no progress display`;

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

function formatUsd(x: number): string {
  if (x === 0) return "$0";
  if (x < 0.01) return `$${x.toPrecision(2)}`;
  return `$${x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

function formatSeconds(s: number): string {
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 2 * 3600) return `${(s / 60).toFixed(1)} min`;
  if (s < 48 * 3600) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

const count = (n: number) => n.toLocaleString("en-US");

const BOTTLENECK_NAMES: Record<JobPlan["bottleneck"], string> = {
  lambda: "copy Lambda capacity",
  "s3-write-rate": "S3's write rate per prefix",
  "s3-read-rate": "S3's read rate per prefix",
  listing: "listing",
  "largest-object": "the largest object's parts",
};

function report(
  what: string,
  t: Tallied,
  plan: JobPlan,
  capacity: PlanCapacity,
  multipart: { threshold: number; partSize: number },
  deletions?: { readonly compared: Compared; readonly plan: DeletionPlanEstimate; readonly headPer1000: number },
): string {
  const s3 = plan.requests.s3;
  const sqs = plan.requests.sqs;
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(14)} ${text}`);
  row("plan", what);
  row("objects", `${count(plan.objects)} (${formatBytes(plan.bytes)}), largest ${formatBytes(plan.largestObject)}`);
  if (t.source.kind === "manifest") {
    row(
      "manifest",
      `${count(t.source.rows)} rows: ${count(t.skipped)} skipped, ${count(t.vanished)} naming no object, ${count(t.invalid)} invalid`,
    );
  }
  row(
    "by parts",
    `${count(plan.multipartObjects)} objects, ${count(plan.parts)} parts (above ${formatBytes(multipart.threshold)}, parts of ${formatBytes(multipart.partSize)})`,
  );
  plan.sizeHistogram.forEach((b, i) => {
    const range = b.from === 0 ? "0 B" : `${formatBytes(b.from)} - ${formatBytes(b.below)}`;
    row(i === 0 ? "sizes" : "", `${range.padEnd(20)} ${count(b.objects).padStart(13)} objects ${formatBytes(b.bytes).padStart(10)}`);
  });
  const c = plan.costByOperation;
  row(
    "S3 requests",
    `${count(s3.copy)} CopyObject ${formatUsd(c.s3.copy)}, ${count(s3.list)} ListObjectsV2 ${formatUsd(c.s3.list)}, ${count(s3.ledgerPut)} ledger PUT ${formatUsd(c.s3.ledgerPut)}`,
  );
  if (plan.multipartObjects > 0) {
    row(
      "",
      `${count(s3.uploadPartCopy)} UploadPartCopy ${formatUsd(c.s3.uploadPartCopy)}, ${count(s3.createUpload)} each of Create/CompleteMultipartUpload ` +
        `${formatUsd(c.s3.createUpload + c.s3.completeUpload)}, GetObjectTagging ${formatUsd(c.s3.tagging)}`,
    );
  }
  if (s3.get > 0) row("", `${count(s3.head)} HEAD ${formatUsd(c.s3.head)}, ${count(s3.get)} manifest GET ${formatUsd(c.s3.get)}`);
  else if (s3.head > 0) row("", `${count(s3.head)} HEAD ${formatUsd(c.s3.head)}`);
  row(
    "SQS requests",
    `${count(sqs.send)} SendMessageBatch, ${count(sqs.receive)} ReceiveMessage, ${count(sqs.delete)} DeleteMessageBatch ` +
      `(${count(plan.sqsBilledRequests.send + plan.sqsBilledRequests.receive + plan.sqsBilledRequests.delete)} billed) ${formatUsd(plan.cost.sqs)}`,
  );
  row(
    "Lambda",
    `${count(plan.invocations.copy)} copy + ${count(plan.invocations.list)} list invocations, ${count(Math.round(plan.lambdaGbSeconds))} GB-s ${formatUsd(plan.cost.lambda)}`,
  );
  row(
    "cost",
    `${formatUsd(plan.cost.total)} (S3 ${formatUsd(plan.cost.s3)}, SQS ${formatUsd(plan.cost.sqs)}, Lambda ${formatUsd(plan.cost.lambda)}), ` +
      `${formatUsd(plan.cost.perMillionObjects)} per million objects`,
  );
  const b = plan.bottlenecks;
  row(
    "duration",
    `about ${formatSeconds(plan.projectedSeconds)}, set by ${BOTTLENECK_NAMES[plan.bottleneck]} ` +
      `(${capacity.lambdaConcurrency} copy invocations x ${capacity.copyConcurrency} in flight, ${capacity.prefixes} prefix${capacity.prefixes === 1 ? "" : "es"}` +
      `${plan.prefixesAtOnce < capacity.prefixes ? `, ${plan.prefixesAtOnce} written at once as keys are listed in order` : ""})`,
  );
  row(
    "",
    `Lambda ${formatSeconds(b.lambda)}, S3 writes ${formatSeconds(b["s3-write-rate"])}, S3 reads ${formatSeconds(b["s3-read-rate"])}, ` +
      `listing ${formatSeconds(b.listing)}, largest object ${formatSeconds(b["largest-object"])}`,
  );
  row(
    "",
    `S3 rates assume a prefix kept busy doubles its partitions every ${S3_SCALING.growAfterSeconds} s, up to ` +
      `${S3_SCALING.maxPartitions} (AWS gives no timing): ${plan.s3PartitionsAtEnd} per prefix when the writes end`,
  );
  if (plan.usefulConcurrency < capacity.lambdaConcurrency && plan.bottleneck !== "lambda") {
    row("", `more than ${count(plan.usefulConcurrency)} copy invocations at once would only wait (and be billed) on the bottleneck`);
  }
  const bo = plan.batchOperations;
  row(
    "Batch Ops",
    `${formatUsd(bo.cost)} (${formatUsd(bo.jobFee)} job + ${formatUsd(bo.objectFee)} objects + ${formatUsd(bo.copyRequests)} copy requests)` +
      (bo.unsupportedObjects > 0 ? `; its Copy refuses the ${count(bo.unsupportedObjects)} objects above 5 GiB` : ""),
  );
  if (deletions !== undefined) {
    const { compared, plan: d } = deletions;
    row(
      "compared",
      `${count(compared.identical)} source keys identical in the destination, ${count(compared.toCopy)} to copy ` +
        "(the figures above count every key copied)",
    );
    const kept = `${count(d.protected)} ledger record${d.protected === 1 ? "" : "s"} left alone`;
    const keys = `${count(d.keys)} key${d.keys === 1 ? "" : "s"} only in the destination`;
    if (d.refused) {
      row("deletions", `${keys}, more than --max-delete ${count(d.maxDelete ?? 0)}: the job would delete none (${kept})`);
    } else {
      // Unrounded here: a few HEADs cost less than the micro-dollar the JSON rounds to.
      const cost = (d.requests.head * deletions.headPer1000) / 1000;
      row(
        "deletions",
        `${keys} (${kept}): ${count(d.requests.head)} HEAD + ${count(d.requests.delete)} DeleteObject (free) ${formatUsd(cost)}, ` +
          "not in the cost above",
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    source: { type: "string" },
    ...MANIFEST_FLAGS,
    endpoint: { type: "string" },
    region: { type: "string" },
    concurrency: { type: "string" },
    "copy-concurrency": { type: "string" },
    "list-concurrency": { type: "string" },
    prefixes: { type: "string" },
    "multipart-threshold": { type: "string" },
    "part-size": { type: "string" },
    sync: { type: "boolean", default: false },
    dest: { type: "string" },
    delete: { type: "boolean", default: false },
    "max-delete": { type: "string" },
    include: { type: "string", multiple: true },
    exclude: { type: "string", multiple: true },
    prices: { type: "string" },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (!args.source) throw new UsageError("--source s3://BUCKET[/PREFIX] is required (see --help)");
  const source = parseS3Url(args.source, "--source");
  const manifest = manifestFromArgs(args);
  const capacity: PlanCapacity = {
    lambdaConcurrency: positiveInt(args.concurrency, "concurrency", DEFAULTS.concurrency),
    copyConcurrency: positiveInt(args["copy-concurrency"], "copy-concurrency", DEFAULTS.copyConcurrency),
    listConcurrency: positiveInt(args["list-concurrency"], "list-concurrency", DEFAULTS.listConcurrency),
    partConcurrency: DEFAULT_MULTIPART.partConcurrency,
    headConcurrency: DEFAULT_HEAD_CONCURRENCY,
    prefixes: positiveInt(args.prefixes, "prefixes", DEFAULTS.prefixes),
  };
  // The job options' own parsing and problems (--delete needs --sync, --max-delete needs --delete), as local and kickoff say them.
  const options = jobOptionsFromArgs({
    sync: args.sync || undefined,
    delete: args.delete || undefined,
    "max-delete": args["max-delete"],
    include: args.include,
    exclude: args.exclude,
    "multipart-threshold": args["multipart-threshold"],
    "part-size": args["part-size"],
  });
  if (args.delete && args.dest === undefined)
    throw new UsageError("--delete needs --dest s3://BUCKET[/PREFIX]: the destination's listing says what only it has");
  const destination = args.dest === undefined ? source : parseS3Url(args.dest, "--dest");
  const resolved = resolveJobOptions(options);
  const multipart = { threshold: resolved.multipartThreshold, partSize: resolved.partSize };
  const prices = loadPriceTable(args.prices ?? DEFAULT_PRICES_FILE);
  const s3 = createS3Client({ endpoint: endpointUrl(args.endpoint), region: args.region });
  await checkBucket(s3, source.bucket, "source");
  if (args.delete) await checkBucket(s3, destination.bucket, "destination");

  // The messages are cut for a job like the one kickoff would start; the destination only sizes their envelope.
  // Without --delete, `sync` stays out of it, as it always has: a plain --sync plan's figures do not move.
  const { sync: _sync, ...unsynced } = options ?? {};
  const envelope = args.delete ? options : Object.keys(unsynced).length > 0 ? unsynced : undefined;
  const job: JobRef =
    envelope === undefined ? { id: newJobId(), source, destination } : { id: newJobId(), source, destination, options: envelope };
  const progress = countProgress(!args.quiet, "objects counted");
  let tallied: Tallied & { compared?: Compared };
  try {
    const common = { job, multipart, limits: DEFAULT_BATCH_LIMITS, onObjects: (n: number) => progress.add(n) };
    tallied =
      manifest === undefined
        ? await tallyListing(s3, { ...common, sync: args.sync, compare: args.delete })
        : await tallyManifest(s3, manifest, common);
  } finally {
    progress.stop();
  }
  const plan = planJob({ tally: tallied.tally, messages: tallied.messages, source: tallied.source, capacity, prices });
  const compared = tallied.compared;
  const deletions =
    compared === undefined
      ? undefined
      : { compared, plan: planDeletions(compared.deletions, options?.maxDelete, prices), headPer1000: prices.s3.getHeadPer1000 };

  const what =
    manifest === undefined
      ? `${formatS3Url(source)}, listed (${tallied.source.kind === "listing" ? tallied.source.units : 0} ranges${args.sync ? ", sync" : ""}` +
        `${args.delete ? ` --delete against ${formatS3Url(destination)}` : ""})`
      : `${formatS3Url(source)}, from manifest s3://${manifest.bucket}/${manifest.key}`;
  process.stdout.write(report(what, tallied, plan, capacity, multipart, deletions));
  process.stdout.write(
    `${" ".repeat(15)}${prices.region} list prices as of ${prices.asOf} (${args.prices ?? "config/prices.json"}): projections, not a bill\n`,
  );
  if (args.json) {
    const manifestFields =
      tallied.source.kind === "manifest"
        ? {
            manifest: `s3://${manifest?.bucket ?? ""}/${manifest?.key ?? ""}`,
            rows: tallied.source.rows,
            skipped: tallied.skipped,
            vanished: tallied.vanished,
            invalid: tallied.invalid,
          }
        : {};
    process.stdout.write(
      `${JSON.stringify({
        source: formatS3Url(source),
        ...manifestFields,
        ...plan,
        options: { ...multipart, sync: args.sync, batchKeys: DEFAULT_BATCH_LIMITS.maxKeys },
        capacity,
        prices: { asOf: prices.asOf, region: prices.region, file: args.prices ?? "config/prices.json" },
        ...(deletions === undefined
          ? {}
          : {
              destination: formatS3Url(destination),
              compared: { identical: deletions.compared.identical, toCopy: deletions.compared.toCopy },
              deletions: deletions.plan,
            }),
      })}\n`,
    );
  }
  return EXIT.ok;
}

await runCommand(main);
