/** Shared helpers of the stack tests: apps built like bin/app.ts, and readers of synthesized templates. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";

const repoRoot = new URL("../../", import.meta.url);

/** The feature flags of cdk.json, so that tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL("cdk.json", repoRoot), "utf8")) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

export interface TestApp {
  readonly app: App;
  readonly outdir: string;
  /** Removes the cloud assembly directory. */
  readonly dispose: () => void;
}

/** An app with cdk.json's context plus `context`, writing to a temporary directory, with cdk-nag if asked. */
export function testApp(context: Record<string, unknown> = {}, options: { readonly nag?: boolean } = {}): TestApp {
  const outdir = mkdtempSync(join(tmpdir(), "s3-fanout-stack-"));
  const app = new App({ outdir, context: { ...cdkJsonContext(), ...context } });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, outdir, dispose: () => rmSync(outdir, { recursive: true, force: true }) };
}

export interface Violation {
  readonly ruleName: string;
  readonly severity: string;
  readonly violatingConstructs?: readonly { readonly constructPath?: string }[];
}

/**
 * Synthesizes the app and returns cdk-nag's findings that no acknowledgment covers, errors and
 * warnings alike. cdk-nag 3 is a policy-validation plugin: synth throws ValidationFailed on an
 * error, and every finding lands in the assembly's validation-report.json under pluginName "AwsSolutions".
 */
export function unacknowledgedNagFindings(testApp: TestApp): { readonly findings: Violation[]; readonly synthError?: string } {
  let synthError: string | undefined;
  try {
    testApp.app.synth();
  } catch (error) {
    synthError = error instanceof Error ? error.message : String(error);
  }
  const report = JSON.parse(readFileSync(join(testApp.outdir, "validation-report.json"), "utf8")) as {
    pluginReports: { pluginName: string; violations: Violation[] }[];
  };
  const findings = report.pluginReports.filter((r) => r.pluginName === "AwsSolutions").flatMap((r) => r.violations);
  return { findings, synthError };
}

export function describeFindings(findings: readonly Violation[]): string {
  return findings
    .map((f) => `${f.severity} ${f.ruleName} at ${(f.violatingConstructs ?? []).map((c) => c.constructPath).join(", ")}`)
    .join("\n");
}

/**
 * A CloudFormation value as text: Fn::Join flattened, Ref AWS::Partition as "aws",
 * other Refs as <LogicalId>, Fn::GetAtt as <LogicalId.Attr>.
 */
export function render(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "object" && value !== null) {
    const node = value as Record<string, unknown>;
    const join = node["Fn::Join"];
    if (Array.isArray(join) && Array.isArray(join[1])) return join[1].map(render).join(String(join[0]));
    const getAtt = node["Fn::GetAtt"];
    if (Array.isArray(getAtt)) return `<${getAtt.map(String).join(".")}>`;
    if (node.Ref === "AWS::Partition") return "aws";
    if (typeof node.Ref === "string") return `<${node.Ref}>`;
  }
  return JSON.stringify(value);
}

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

export const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Every identity-policy statement in the template (AWS::IAM::Policy, managed policies, inline role policies), with the logical id of the role (or user, group) that holds it. */
export function identityStatements(
  resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>,
): { readonly owner: string; readonly statement: Statement }[] {
  const found: { owner: string; statement: Statement }[] = [];
  for (const [id, resource] of Object.entries(resources)) {
    const props = resource.Properties ?? {};
    const documents: unknown[] = [];
    // A policy is owned by the role it is attached to; an inline policy by its role.
    const roles = asArray(props.Roles as unknown[] | undefined).map((role) => render(role).replace(/^<|>$/g, ""));
    const owner = roles.length > 0 ? roles.join(",") : id;
    if (resource.Type === "AWS::IAM::Policy" || resource.Type === "AWS::IAM::ManagedPolicy") documents.push(props.PolicyDocument);
    if (resource.Type === "AWS::IAM::Role") {
      for (const policy of asArray(props.Policies as { PolicyDocument: unknown }[] | undefined)) documents.push(policy.PolicyDocument);
    }
    for (const document of documents) {
      for (const statement of asArray((document as { Statement?: Statement | Statement[] }).Statement)) found.push({ owner, statement });
    }
  }
  return found;
}
