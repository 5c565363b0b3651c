/**
 * CDK assertions on what matters for safety and reliability in the synthesized stack, and cdk-nag.
 * The stack is built once per app (bundling with esbuild is the slow part).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import type { CfnFunction } from "aws-cdk-lib/aws-lambda";
import { Bucket, type CfnBucket } from "aws-cdk-lib/aws-s3";
import type { CfnQueue } from "aws-cdk-lib/aws-sqs";
import { stackPropsFromContext } from "../../lib/context.ts";
import { S3FanoutStack } from "../../lib/s3-fanout-stack.ts";
import {
  asArray,
  describeFindings,
  identityStatements,
  render,
  type Statement,
  type TestApp,
  testApp,
  unacknowledgedNagFindings,
} from "./helpers.ts";

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

const SOURCES = ["src-a", "src-b"];
const DESTINATIONS = ["dst-c"];
const CONTEXT = { sourceBucket: "src-a, src-b", destinationBucket: "dst-c", listMaxConcurrency: "7", copyMaxConcurrency: "33" };
const OUTPUTS = [
  "ListQueueUrl",
  "ListDlqUrl",
  "CopyQueueUrl",
  "CopyDlqUrl",
  "ListFunctionName",
  "CopyFunctionName",
  "LedgerBucket",
  "DashboardName",
  "SourceBuckets",
  "DestinationBuckets",
];

let built: TestApp;
let stack: S3FanoutStack;
let template: Template;
let resources: Resources;
let ids: { list: string; copy: string; listRole: string; copyRole: string; listQueue: string; copyQueue: string; ledger: string };

const logicalId = (construct: { node: { defaultChild?: unknown } }) =>
  Stack.of(stack).getLogicalId(construct.node.defaultChild as CfnFunction | CfnBucket | CfnQueue);
/** The Properties of a resource that must exist. */
const propsOf = (id: string): Record<string, unknown> => {
  const resource = resources[id];
  assert.ok(resource, `resource ${id} exists`);
  return resource.Properties;
};
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const actionsOf = (statement: Statement) => asArray(statement.Action);
const resourcesOf = (statement: Statement) => asArray(statement.Resource).map(render);
const s3Statements = (owner: string) =>
  identityStatements(resources)
    .filter((s) => s.owner === owner && actionsOf(s.statement).some((a) => a.startsWith("s3:")))
    .map((s) => s.statement);
/** Action → rendered resources, over every S3 statement of a role. */
const s3Grants = (owner: string): Map<string, Set<string>> => {
  const grants = new Map<string, Set<string>>();
  for (const statement of s3Statements(owner)) {
    for (const action of actionsOf(statement)) {
      const set = grants.get(action) ?? new Set<string>();
      for (const resource of resourcesOf(statement)) set.add(resource);
      grants.set(action, set);
    }
  }
  return grants;
};
const bucketArns = (names: readonly string[]) => names.map((n) => `arn:aws:s3:::${n}`);
const objectArns = (names: readonly string[]) => names.map((n) => `arn:aws:s3:::${n}/*`);

before(() => {
  built = testApp(CONTEXT);
  stack = new S3FanoutStack(built.app, "S3Fanout", stackPropsFromContext(built.app));
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Resources;
  ids = {
    list: logicalId(stack.lister.fn),
    copy: logicalId(stack.copier.fn),
    listRole: logicalId(stack.lister.role),
    copyRole: logicalId(stack.copier.role),
    listQueue: logicalId(stack.listWork.queue),
    copyQueue: logicalId(stack.copyWork.queue),
    ledger: logicalId(stack.ledger.bucket),
  };
});

after(() => built.dispose());

describe("IAM is scoped to the named buckets", () => {
  test("every S3 permission names a configured bucket, its objects, or the ledger, and nothing else", () => {
    const ledger = [`<${ids.ledger}.Arn>`, `<${ids.ledger}.Arn>/*`];
    const allowed = new Set([
      ...bucketArns(SOURCES),
      ...objectArns(SOURCES),
      ...bucketArns(DESTINATIONS),
      ...objectArns(DESTINATIONS),
      ...ledger,
    ]);
    const s3 = identityStatements(resources).filter((s) => actionsOf(s.statement).some((a) => a.startsWith("s3:") || a === "*"));
    assert.ok(s3.length > 0, "expected S3 statements");
    for (const { owner, statement } of s3) {
      for (const resource of resourcesOf(statement)) {
        assert.notEqual(resource, "*", `${owner}: S3 actions on Resource "*"`);
        assert.ok(!resource.startsWith("arn:aws:s3:::*"), `${owner}: wildcard bucket ${resource}`);
        assert.ok(allowed.has(resource), `${owner}: ${actionsOf(statement).join(",")} on unconfigured resource ${resource}`);
      }
    }
  });

  test("no statement grants s3:*, a wildcard S3 action or '*'", () => {
    for (const { owner, statement } of identityStatements(resources)) {
      for (const action of actionsOf(statement)) {
        assert.notEqual(action, "*", `${owner}: Action "*"`);
        if (action.startsWith("s3:")) assert.ok(!action.includes("*"), `${owner}: wildcard S3 action ${action}`);
      }
    }
  });

  test("the list role lists both sides, reads the sources (HEAD of manifest rows), HEADs destinations (sync) and nothing more", () => {
    const grants = s3Grants(ids.listRole);
    const onSelection = (action: string) => [...(grants.get(action) ?? [])].filter((r) => !r.startsWith(`<${ids.ledger}`)).sort();
    assert.deepEqual(onSelection("s3:ListBucket"), [...bucketArns(SOURCES), ...bucketArns(DESTINATIONS)].sort());
    assert.deepEqual(onSelection("s3:GetObject"), [...objectArns(SOURCES), ...objectArns(DESTINATIONS)].sort());
    assert.deepEqual(onSelection("s3:GetObjectVersion"), objectArns(SOURCES).sort());
    // Exactly these: no tagging (the list function never reads tags), no write.
    assert.deepEqual([...grants.keys()].filter((a) => onSelection(a).length > 0).sort(), [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:ListBucket",
    ]);
  });

  test("the copy role reads source objects and their tags (versions too), writes destination objects and lists only the sources", () => {
    const grants = s3Grants(ids.copyRole);
    const on = (action: string) => [...(grants.get(action) ?? [])].filter((r) => !r.startsWith(`<${ids.ledger}`)).sort();
    for (const action of ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging"]) {
      assert.deepEqual(on(action), objectArns(SOURCES).sort(), action);
    }
    for (const action of [
      "s3:PutObject",
      "s3:PutObjectTagging",
      "s3:PutObjectAcl",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]) {
      assert.deepEqual(on(action), objectArns(DESTINATIONS).sort(), action);
    }
    // Sources only: a key gone since listing must answer 404, not 403. The copier never lists a destination.
    assert.deepEqual(on("s3:ListBucket"), bucketArns(SOURCES).sort());
    assert.deepEqual(on("s3:DeleteObject"), []);
    assert.equal(grants.size, 10, [...grants.keys()].join(","));
  });

  test("both roles read and write the ledger, and nothing grants kms without a configured key", () => {
    for (const role of [ids.listRole, ids.copyRole]) {
      const grants = s3Grants(role);
      assert.ok(grants.get("s3:GetObject")?.has(`<${ids.ledger}.Arn>/*`), `${role} reads the ledger`);
      assert.ok(grants.get("s3:PutObject")?.has(`<${ids.ledger}.Arn>/*`), `${role} writes the ledger`);
      assert.ok(grants.get("s3:ListBucket")?.has(`<${ids.ledger}.Arn>`), `${role} lists the ledger`);
    }
    const kms = identityStatements(resources).filter((s) => actionsOf(s.statement).some((a) => a.startsWith("kms:")));
    assert.deepEqual(kms, []);
  });

  test("roles have no managed policy and write logs only to their own log group", () => {
    for (const [id, role] of ofType("AWS::IAM::Role"))
      assert.equal(role.Properties.ManagedPolicyArns, undefined, `${id} has managed policies`);
    for (const { owner, statement } of identityStatements(resources)) {
      const logActions = actionsOf(statement).filter((a) => a.startsWith("logs:"));
      if (logActions.length === 0) continue;
      assert.deepEqual([...logActions].sort(), ["logs:CreateLogStream", "logs:PutLogEvents"]);
      const fn = owner === ids.listRole ? stack.lister : stack.copier;
      assert.deepEqual(resourcesOf(statement), [`<${logicalId(fn.logGroup)}.Arn>`]);
    }
  });
});

describe("ledger bucket", () => {
  test("is private: public access blocked, SSE, server access logs, and a bucket policy that only denies non-TLS", () => {
    const ledger = resources[ids.ledger];
    assert.ok(ledger, "ledger bucket created");
    assert.deepEqual(ledger.Properties.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    assert.ok(ledger.Properties.BucketEncryption, "ledger encrypted");
    assert.ok(stack.ledger.accessLogsBucket, "access log bucket created");
    const logging = ledger.Properties.LoggingConfiguration as { DestinationBucketName: unknown };
    assert.equal(render(logging.DestinationBucketName), `<${logicalId(stack.ledger.accessLogsBucket)}>`);
    const policies = ofType("AWS::S3::BucketPolicy").filter(([, p]) => render(p.Properties.Bucket) === `<${ids.ledger}>`);
    assert.equal(policies.length, 1);
    const document = policies[0]?.[1].Properties.PolicyDocument as { Statement: Statement[] } | undefined;
    const statements = asArray(document?.Statement);
    assert.deepEqual(
      statements.map((s) => [s.Effect, s.Condition]),
      [["Deny", { Bool: { "aws:SecureTransport": "false" } }]],
    );
  });

  test("is retained when the stack is deleted", () => {
    template.hasResource("AWS::S3::Bucket", { Properties: { LoggingConfiguration: Match.anyValue() }, DeletionPolicy: "Retain" });
  });
});

describe("queues", () => {
  const queues = () => ofType("AWS::SQS::Queue");

  test("each work queue redrives to its own DLQ with an explicit maxReceiveCount", () => {
    const work = queues().filter(([, q]) => q.Properties.RedrivePolicy !== undefined);
    assert.deepEqual(work.map(([id]) => id).sort(), [ids.listQueue, ids.copyQueue].sort());
    const dlqs = new Set<string>();
    for (const [id, queue] of work) {
      const redrive = queue.Properties.RedrivePolicy as { deadLetterTargetArn: unknown; maxReceiveCount: number };
      assert.ok(Number.isInteger(redrive.maxReceiveCount) && redrive.maxReceiveCount >= 1, `${id} maxReceiveCount`);
      const target = render(redrive.deadLetterTargetArn).replace(/^<(.*)\.Arn>$/, "$1");
      assert.equal(resources[target]?.Type, "AWS::SQS::Queue", `${id} redrives to a queue of this stack`);
      dlqs.add(target);
    }
    assert.equal(dlqs.size, 2, "one DLQ per work queue");
    assert.equal(queues().length, 4);
  });

  test("DLQs keep messages 14 days, work queues 7 (less, since a moved message keeps its first enqueue time); all encrypted (SSE-SQS)", () => {
    const dlqs = new Set([logicalId(stack.listWork.deadLetterQueue), logicalId(stack.copyWork.deadLetterQueue)]);
    for (const [id, queue] of queues()) {
      assert.equal(queue.Properties.MessageRetentionPeriod, (dlqs.has(id) ? 14 : 7) * 24 * 3600, `${id} retention`);
      assert.equal(queue.Properties.SqsManagedSseEnabled, true, `${id} SSE`);
    }
  });

  test("every queue has a policy that denies requests without TLS", () => {
    for (const [id] of queues()) {
      const policies = ofType("AWS::SQS::QueuePolicy").filter(([, p]) => asArray(p.Properties.Queues).some((q) => render(q) === `<${id}>`));
      const denies = policies.flatMap(([, p]) =>
        asArray((p.Properties.PolicyDocument as { Statement: Statement[] }).Statement).filter(
          (s) => s.Effect === "Deny" && s.Condition?.Bool?.["aws:SecureTransport"] === "false",
        ),
      );
      assert.equal(denies.length, 1, `${id} TLS-only policy`);
    }
  });

  test("visibility timeout is at least 6 x the timeout of the function that consumes the queue", () => {
    const mappings = ofType("AWS::Lambda::EventSourceMapping");
    assert.equal(mappings.length, 2);
    for (const [id, mapping] of mappings) {
      const queueId = render(mapping.Properties.EventSourceArn).replace(/^<(.*)\.Arn>$/, "$1");
      const functionId = render(mapping.Properties.FunctionName).replace(/^<(.*)>$/, "$1");
      const visibility = propsOf(queueId).VisibilityTimeout;
      const timeout = propsOf(functionId).Timeout;
      assert.equal(typeof visibility, "number", `${id}: visibility of ${queueId}`);
      assert.equal(typeof timeout, "number", `${id}: timeout of ${functionId}`);
      assert.ok((visibility as number) >= 6 * (timeout as number), `${id}: ${visibility} s < 6 x ${timeout} s`);
    }
  });

  test("a DLQ alarm fires on the first message of each DLQ", () => {
    const alarms = ofType("AWS::CloudWatch::Alarm");
    const dlqs = [logicalId(stack.listWork.deadLetterQueue), logicalId(stack.copyWork.deadLetterQueue)];
    for (const dlq of dlqs) {
      const matching = alarms.filter(([, a]) =>
        asArray(a.Properties.Dimensions as { Name: string; Value: unknown }[]).some(
          (d) => d.Name === "QueueName" && render(d.Value) === `<${dlq}.QueueName>`,
        ),
      );
      assert.equal(matching.length, 1, `alarm on ${dlq}`);
      const props = matching[0]?.[1].Properties;
      assert.equal(props?.MetricName, "ApproximateNumberOfMessagesVisible");
      assert.equal(props?.Threshold, 1);
      assert.equal(props?.ComparisonOperator, "GreaterThanOrEqualToThreshold");
    }
  });
});

describe("functions and event sources", () => {
  test("SQS event sources report partial batch failures and cap concurrency from context", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: ids.list },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 7 },
    });
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      FunctionName: { Ref: ids.copy },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 33 },
    });
  });

  test("both functions run Node.js 24 on ARM64 with source maps; the list function may run 15 minutes", () => {
    const functions = ofType("AWS::Lambda::Function");
    assert.deepEqual(functions.map(([id]) => id).sort(), [ids.list, ids.copy].sort());
    for (const [id, fn] of functions) {
      assert.equal(fn.Properties.Runtime, "nodejs24.x", id);
      assert.deepEqual(fn.Properties.Architectures, ["arm64"], id);
      const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      assert.equal(env.NODE_OPTIONS, "--enable-source-maps", id);
    }
    assert.equal(propsOf(ids.list).Timeout, 15 * 60);
  });

  test("bundles were built by esbuild with source maps", () => {
    const assets = readdirSync(built.outdir).filter(
      (name) => name.startsWith("asset.") && existsSync(join(built.outdir, name, "index.js")),
    );
    assert.equal(assets.length, 2);
    for (const asset of assets) {
      assert.ok(existsSync(join(built.outdir, asset, "index.js.map")), `${asset}/index.js.map`);
      assert.match(readFileSync(join(built.outdir, asset, "index.js"), "utf8"), /sourceMappingURL=index\.js\.map/);
    }
  });

  test("functions get the queue, DLQ and ledger variables and the Powertools service and namespace", () => {
    for (const id of [ids.list, ids.copy]) {
      const env = (propsOf(id).Environment as { Variables: Record<string, unknown> }).Variables;
      assert.equal(render(env.LIST_QUEUE_URL), `<${ids.listQueue}>`);
      assert.equal(render(env.COPY_QUEUE_URL), `<${ids.copyQueue}>`);
      assert.equal(render(env.LIST_DLQ_URL), `<${logicalId(stack.listWork.deadLetterQueue)}>`);
      assert.equal(render(env.COPY_DLQ_URL), `<${logicalId(stack.copyWork.deadLetterQueue)}>`);
      assert.equal(render(env.LEDGER_BUCKET), `<${ids.ledger}>`);
      assert.equal(env.POWERTOOLS_SERVICE_NAME, "s3-fanout");
      assert.equal(env.POWERTOOLS_METRICS_NAMESPACE, "S3Fanout");
    }
  });

  test("each function logs to its own log group with a retention", () => {
    for (const fn of [stack.lister, stack.copier]) {
      const logGroup = logicalId(fn.logGroup);
      const config = propsOf(logicalId(fn.fn)).LoggingConfig as { LogGroup: unknown };
      assert.equal(render(config.LogGroup), `<${logGroup}>`);
      const retention = propsOf(logGroup).RetentionInDays;
      assert.ok(typeof retention === "number" && retention > 0, `${logGroup} retention`);
    }
  });

  test("both functions may feed their own queue without Lambda's recursive-loop detection dropping the work", () => {
    for (const id of [ids.list, ids.copy]) assert.equal(propsOf(id).RecursiveLoop, "Allow", id);
  });
});

describe("outputs and dashboard", () => {
  test("the stack exports the outputs the operator scripts read, under their exact names", () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    for (const name of OUTPUTS) assert.ok(outputs[name], `output ${name}`);
    assert.equal(outputs.SourceBuckets?.Value, "src-a,src-b");
    assert.equal(outputs.DestinationBuckets?.Value, "dst-c");
    assert.equal(render(outputs.LedgerBucket?.Value), `<${ids.ledger}>`);
    assert.equal(render(outputs.ListQueueUrl?.Value), `<${ids.listQueue}>`);
    assert.equal(render(outputs.CopyFunctionName?.Value), `<${ids.copy}>`);
  });

  test("the dashboard graphs throughput, failures, throttles, queue and DLQ depths, duration and concurrency", () => {
    const dashboards = ofType("AWS::CloudWatch::Dashboard");
    assert.equal(dashboards.length, 1);
    const [, dashboard] = dashboards[0] as [string, { Properties: Record<string, unknown> }];
    assert.deepEqual(dashboard.Properties.DashboardName, template.toJSON().Outputs.DashboardName.Value);
    // Dashboards are account-wide: the name carries the region, so a second region does not collide.
    assert.equal(render(dashboard.Properties.DashboardName), "S3Fanout-<AWS::Region>");
    const body = render(dashboard.Properties.DashboardBody);
    for (const metric of ["ObjectsCopied", "BytesCopied", "CopyFailures", "CopyThrottles", "ObjectsVanished", "KeysListed"]) {
      assert.ok(body.includes(`["S3Fanout","${metric}","service","s3-fanout"`), `custom metric ${metric}`);
    }
    for (const metric of ["Errors", "Throttles", "Duration", "ConcurrentExecutions"]) {
      for (const fn of [ids.list, ids.copy])
        assert.ok(body.includes(`["AWS/Lambda","${metric}","FunctionName","<${fn}>"`), `${metric} of ${fn}`);
    }
    for (const queue of [stack.listWork.queue, stack.copyWork.queue, stack.listWork.deadLetterQueue, stack.copyWork.deadLetterQueue]) {
      const name = `<${logicalId(queue)}.QueueName>`;
      assert.ok(body.includes(`["AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","${name}"`), `depth of ${name}`);
    }
    assert.match(body, /objectscopied \/ \(PERIOD\(objectscopied\) \/ 60\)/, "per-minute rates");
    assert.ok(body.includes('"ObjectsDeleted"'), "deletions (sync --delete)");
    assert.ok(body.includes("FailuresByCode"), "failures by error code");
  });
});

describe("cdk-nag AwsSolutions", () => {
  test("synthesizing the app with the AwsSolutions pack leaves no unacknowledged finding", () => {
    const nagApp = testApp(CONTEXT, { nag: true });
    try {
      new S3FanoutStack(nagApp.app, "S3Fanout", stackPropsFromContext(nagApp.app));
      const { findings, synthError } = unacknowledgedNagFindings(nagApp);
      assert.deepEqual(findings, [], describeFindings(findings));
      assert.equal(synthError, undefined);
    } finally {
      nagApp.dispose();
    }
  });

  test("the check is live: a bucket without TLS enforcement or access logs is reported", (t) => {
    t.mock.method(console, "error", () => undefined); // the CDK prints the report it then throws
    const nagApp = testApp({}, { nag: true });
    try {
      new Bucket(new Stack(nagApp.app, "Careless"), "Open");
      const { findings, synthError } = unacknowledgedNagFindings(nagApp);
      assert.deepEqual(findings.map((f) => f.ruleName).sort(), ["AwsSolutions-S1", "AwsSolutions-S10"]);
      assert.match(synthError ?? "", /Validation failed/);
    } finally {
      nagApp.dispose();
    }
  });
});
