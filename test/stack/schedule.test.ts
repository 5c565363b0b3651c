/**
 * The scheduled sync in the template: the schedule's expression and input (the Scheduler's
 * scheduled-time attribute), its target and role, the start-job function's grants scoped to the
 * job's buckets, the DLQ; synth errors in one line (kickoff's own parser's); and no change to the
 * template without a schedule. Bundling is skipped: these checks are about the template.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { stackPropsFromContext } from "../../lib/context.ts";
import { S3FanoutStack } from "../../lib/s3-fanout-stack.ts";
import { asArray, describeFindings, identityStatements, render, type TestApp, testApp, unacknowledgedNagFindings } from "./helpers.ts";

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
const BASE = { sourceBucket: "src,src2", destinationBucket: "dst,dst2", "aws:cdk:bundling-stacks": [] };
const JOB = "--source s3://src/data/ --dest s3://dst/copy/ --sync --include '*.csv'";

interface Built {
  readonly app: TestApp;
  readonly stack: S3FanoutStack;
  readonly resources: Resources;
  readonly outputs: Record<string, { Value: unknown }>;
  readonly nag: ReturnType<typeof unacknowledgedNagFindings>;
}

function build(context: Record<string, unknown>): Built {
  const app = testApp({ ...BASE, ...context }, { nag: true });
  const stack = new S3FanoutStack(app.app, "S3Fanout", stackPropsFromContext(app.app));
  const nag = unacknowledgedNagFindings(app);
  const template = app.app.synth().getStackByName("S3Fanout").template as { Resources: Resources; Outputs: Built["outputs"] };
  return { app, stack, resources: template.Resources, outputs: template.Outputs, nag };
}

/** The one-line error synth stops with. */
function synthError(context: Record<string, unknown>): string {
  const app = testApp({ ...BASE, ...context });
  try {
    new S3FanoutStack(app.app, "S3Fanout", stackPropsFromContext(app.app));
  } catch (err) {
    return (err as Error).message;
  } finally {
    app.dispose();
  }
  return "";
}

const ofType = (resources: Resources, type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

let plain: Built;
let scheduled: Built;

before(() => {
  plain = build({});
  scheduled = build({ schedule: "rate(1 day)", scheduledJob: JOB });
});

after(() => {
  plain.app.dispose();
  scheduled.app.dispose();
});

describe("scheduled sync stack", () => {
  test("adds nothing without a schedule", () => {
    assert.equal(plain.stack.scheduledSync, undefined);
    assert.equal(ofType(plain.resources, "AWS::Scheduler::Schedule").length, 0);
    assert.equal(ofType(plain.resources, "AWS::Lambda::Function").length, 2);
    assert.equal(plain.outputs.ScheduleName, undefined);
  });

  test("a schedule invokes the start-job function with the job kickoff's parser read and the run's scheduled time", () => {
    const [[, schedule] = []] = ofType(scheduled.resources, "AWS::Scheduler::Schedule");
    assert.ok(schedule);
    const p = schedule.Properties;
    assert.equal(p.ScheduleExpression, "rate(1 day)");
    assert.equal(p.Name, "S3Fanout-scheduled-sync");
    const target = p.Target as Record<string, unknown>;
    const starter = scheduled.stack.getLogicalId(scheduled.stack.scheduledSync?.starter.fn.node.defaultChild as never);
    assert.equal(render(target.Arn), `<${starter}.Arn>`);
    assert.deepEqual(JSON.parse(String(target.Input)), {
      v: 1,
      schedule: "S3Fanout-scheduled-sync",
      scheduledTime: "<aws.scheduler.scheduled-time>",
      job: {
        source: { bucket: "src", prefix: "data/" },
        destination: { bucket: "dst", prefix: "copy/" },
        options: { sync: true, include: ["*.csv"] },
      },
    });
    assert.ok(target.DeadLetterConfig, "undeliverable runs go to a DLQ");
    assert.deepEqual(target.RetryPolicy, { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 });
    assert.equal(render(scheduled.outputs.ScheduleName?.Value), "S3Fanout-scheduled-sync");
    assert.equal(render(scheduled.outputs.StartJobFunctionName?.Value), `<${starter}>`);
    const [[, invokeConfig] = []] = ofType(scheduled.resources, "AWS::Lambda::EventInvokeConfig");
    assert.ok(invokeConfig?.Properties.DestinationConfig, "a failed start lands in the DLQ after Lambda's retries");
  });

  test("the Scheduler's role may invoke the start-job function only; the function reaches the job's buckets only", () => {
    const statements = identityStatements(scheduled.resources);
    const [[, schedule] = []] = ofType(scheduled.resources, "AWS::Scheduler::Schedule");
    assert.ok(schedule);
    const schedulerRole = render((schedule.Properties.Target as { RoleArn: unknown }).RoleArn).replace(/^<|\.Arn>$/g, "");
    const starter = scheduled.stack.getLogicalId(scheduled.stack.scheduledSync?.starter.role.node.defaultChild as never);
    const grants = (role: string) =>
      statements
        .filter((s) => s.owner === role)
        .flatMap((s) => asArray(s.statement.Action).flatMap((a) => asArray(s.statement.Resource).map((r) => `${a} on ${render(r)}`)))
        .filter((g) => !g.startsWith("logs:"))
        .sort();
    const starterGrants = grants(starter);
    assert.deepEqual(
      starterGrants.filter((g) => g.includes(":s3:::")),
      ["s3:ListBucket on arn:aws:s3:::dst", "s3:ListBucket on arn:aws:s3:::src"],
    );
    for (const g of starterGrants) assert.doesNotMatch(g, /src2|dst2|s3:\*|s3:Delete|arn:aws:s3:::\*/, g);
    assert.ok(starterGrants.some((g) => g.startsWith("sqs:SendMessage on <ListObjectsQueue")));
    assert.ok(!starterGrants.some((g) => g.startsWith("sqs:SendMessage on <CopyObjectsQueue")), "the start sends to the list queue only");
    assert.ok(starterGrants.some((g) => /^s3:PutObject on <LedgerBucket/.test(g)));
    assert.deepEqual(
      grants(schedulerRole).filter((g) => g.startsWith("lambda:")),
      [
        `lambda:InvokeFunction on <${scheduled.stack.getLogicalId(scheduled.stack.scheduledSync?.starter.fn.node.defaultChild as never)}.Arn>`,
        `lambda:InvokeFunction on <${scheduled.stack.getLogicalId(scheduled.stack.scheduledSync?.starter.fn.node.defaultChild as never)}.Arn>:*`,
      ].sort(),
    );
  });

  test("cdk-nag passes with a schedule", () => {
    assert.equal(scheduled.nag.synthError, undefined);
    assert.deepEqual(scheduled.nag.findings, [], describeFindings(scheduled.nag.findings));
  });

  test("a manifest job may read its manifest bucket's objects, nothing else", () => {
    const b = build({
      manifestBucket: "inv",
      schedule: "cron(0 3 * * ? *)",
      scheduledJob: "--source s3://src/ --dest s3://dst/ --manifest s3://inv/m/manifest.json",
    });
    try {
      const starter = b.stack.getLogicalId(b.stack.scheduledSync?.starter.role.node.defaultChild as never);
      const s3 = identityStatements(b.resources)
        .filter((s) => s.owner === starter)
        .flatMap((s) => asArray(s.statement.Action).flatMap((a) => asArray(s.statement.Resource).map((r) => `${a} on ${render(r)}`)))
        .filter((g) => g.includes(":s3:::"))
        .sort();
      assert.deepEqual(s3, [
        "s3:GetObject on arn:aws:s3:::inv/*",
        "s3:ListBucket on arn:aws:s3:::dst",
        "s3:ListBucket on arn:aws:s3:::inv",
        "s3:ListBucket on arn:aws:s3:::src",
      ]);
      assert.deepEqual(b.nag.findings, [], describeFindings(b.nag.findings));
    } finally {
      b.app.dispose();
    }
  });

  test("synth refuses a bad schedule in one line", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ schedule: "rate(1 day)" }, /^schedule and scheduledJob go together/],
      [{ scheduledJob: JOB }, /^schedule and scheduledJob go together/],
      [{ schedule: "every day", scheduledJob: JOB }, /^schedule must be an EventBridge Scheduler expression/],
      [
        { schedule: "rate(1 day)", scheduledJob: "--source s3://src/a/ --dest s3://dst/a/ --bogus" },
        /^scheduledJob: Unknown option '--bogus'/,
      ],
      [{ schedule: "rate(1 day)", scheduledJob: "--source s3://src/a/" }, /^scheduledJob: .*--dest/],
      [
        { schedule: "rate(1 day)", scheduledJob: "--source s3://src/a/ --dest s3://dst/a/ --job-id x" },
        /^scheduledJob: --job-id has no meaning/,
      ],
      [
        { schedule: "rate(1 day)", scheduledJob: "--source s3://other/a/ --dest s3://dst/a/" },
        /^scheduledJob: "other" is not a configured source bucket/,
      ],
      [
        { schedule: "rate(1 day)", scheduledJob: "--source s3://src/a/ --dest s3://elsewhere/a/" },
        /^scheduledJob: "elsewhere" is not a configured destination bucket/,
      ],
      [
        { schedule: "rate(1 day)", scheduledJob: "--source s3://src/ --dest s3://dst/ --manifest s3://inv/m.csv" },
        /^scheduledJob: manifest bucket "inv" is neither a source nor a manifest bucket/,
      ],
    ];
    for (const [context, pattern] of cases) {
      const message = synthError(context);
      assert.match(message, pattern, JSON.stringify(context));
      assert.ok(!message.includes("\n"), `one line: ${message}`);
    }
  });
});
