/**
 * Deletion rights in the stack: the copy function may delete destination
 * objects only when the stack allows it (allowDelete, or a scheduled job with
 * --delete), and then only in the destination buckets; the output tells
 * kickoff, which refuses --delete on a stack without it.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Template } from "aws-cdk-lib/assertions";
import { stackPropsFromContext } from "../../lib/context.ts";
import { S3FanoutStack } from "../../lib/s3-fanout-stack.ts";
import { deploymentFromOutputs } from "../../scripts/lib/deployment.ts";
import { identityStatements, render, type TestApp, testApp } from "./helpers.ts";

const BASE = { sourceBucket: "src-a", destinationBucket: "dst-b,dst-c" };

const apps: TestApp[] = [];
after(() => {
  for (const a of apps) a.dispose();
});

function synth(context: Record<string, unknown>) {
  const t = testApp(context);
  apps.push(t);
  const stack = new S3FanoutStack(t.app, "S3Fanout", stackPropsFromContext(t.app));
  return Template.fromStack(stack).toJSON() as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    Outputs: Record<string, { Value: unknown }>;
  };
}

/** "owner action resource" for every s3:DeleteObject any role holds. */
function deleteGrants(template: ReturnType<typeof synth>): string[] {
  return identityStatements(template.Resources).flatMap(({ owner, statement }) => {
    const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
    if (!actions.includes("s3:DeleteObject")) return [];
    const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
    return resources.map((r) => `${owner} ${render(r)}`);
  });
}

describe("deletion rights (stack)", () => {
  test("by default no role may delete, and the outputs say so", () => {
    const template = synth(BASE);
    assert.deepEqual(deleteGrants(template), []);
    assert.equal(template.Outputs.DeletionsAllowed, undefined);
  });

  test("allowDelete lets the copy function delete in the destination buckets, and nowhere else", () => {
    const template = synth({ ...BASE, allowDelete: "true" });
    const grants = deleteGrants(template);
    assert.equal(grants.length, 2, grants.join("\n"));
    for (const grant of grants) assert.match(grant, /^<?CopyFunctionRole\w*>? .*:s3:::dst-[bc]\/\*/);
    assert.deepEqual(template.Outputs.DeletionsAllowed?.Value, "true");
  });

  test("a scheduled job with --delete implies it; one without does not", () => {
    const job = "--source s3://src-a/ --dest s3://dst-b/ --sync";
    assert.deepEqual(deleteGrants(synth({ ...BASE, schedule: "rate(1 day)", scheduledJob: job })), []);
    const deleting = synth({ ...BASE, schedule: "rate(1 day)", scheduledJob: `${job} --delete --max-delete 100` });
    assert.equal(deleteGrants(deleting).length, 2);
  });

  test("kickoff reads the output: a stack naming its buckets without DeletionsAllowed may not delete", () => {
    const outputs = (extra: Record<string, string>) => ({
      S3Fanout: {
        ListQueueUrl: "l",
        ListDlqUrl: "ld",
        CopyQueueUrl: "c",
        CopyDlqUrl: "cd",
        ListFunctionName: "lf",
        CopyFunctionName: "cf",
        LedgerBucket: "ledger",
        ...extra,
      },
    });
    assert.equal(deploymentFromOutputs(outputs({ DestinationBuckets: "dst-b" })).deletionsAllowed, false);
    assert.equal(deploymentFromOutputs(outputs({ DestinationBuckets: "dst-b", DeletionsAllowed: "true" })).deletionsAllowed, true);
    // The local stack names no buckets: it may do anything.
    assert.equal(deploymentFromOutputs(outputs({})).deletionsAllowed, undefined);
  });
});
