/**
 * What the app holds, from context. bin/app.ts and `npm run configure` both build it here, so a
 * setting that configure accepts is one that synth accepts, and both reject a bad one alike.
 */
import { type App, Stack, Stage, Validations } from "aws-cdk-lib";
import { hasDeploymentContext, stackPropsFromContext } from "./context.ts";
import { S3FanoutStack } from "./s3-fanout-stack.ts";

/** The stack's name when the context sets no `stackName`. */
export const DEFAULT_STACK_NAME = "S3Fanout";

/** The Stage that holds the placeholder of an app with no configuration. */
export const NOT_CONFIGURED_STAGE = "NotConfigured";

/** Where the stacks go: the account and region of the CLI's credentials (set by the CLI as CDK_DEFAULT_*). */
const cliEnvironment = () => ({ account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION });

/**
 * Adds the stack the context describes. Returns undefined, adding nothing, when the context holds
 * no s3-fanout setting at all (a fresh clone). Throws one clear message on a missing or bad setting.
 */
export function stackFromContext(app: App): S3FanoutStack | undefined {
  if (!hasDeploymentContext(app)) return undefined;
  const name = String(app.node.tryGetContext("stackName") ?? "").trim() || DEFAULT_STACK_NAME;
  return new S3FanoutStack(app, name, { ...stackPropsFromContext(app), env: cliEnvironment() });
}

/**
 * The app without configuration: one empty stack inside a Stage, in the credentials' environment.
 * The CLI refuses an app with no stack at all ("This app contains no stacks", exit 1, for synth,
 * ls and bootstrap alike), and `cdk bootstrap` with no argument bootstraps the environments of the
 * app's stacks. With this placeholder `cdk synth`, `cdk ls` and `cdk diff` succeed and `cdk bootstrap`
 * bootstraps the credentials' account and region. `cdk deploy` and `cdk destroy` select no stack in a
 * Stage unless named, so they still fail; and the CLI never deploys a stack without resources.
 */
export function addNotConfiguredPlaceholder(app: App): Stack {
  const stage = new Stage(app, NOT_CONFIGURED_STAGE);
  const stack = new Stack(stage, "DefaultEnvironment", {
    env: cliEnvironment(),
    description: "s3-fanout is not configured: this empty stack only names the environment for cdk bootstrap",
    // No AWS::CDK::Metadata resource, so that the stack stays without resources.
    analyticsReporting: false,
  });
  Validations.of(stack).acknowledge({
    id: "CloudFormation-Validate::F0001",
    reason: "A placeholder without resources on purpose: the CLI skips deploying a stack that has none.",
  });
  return stack;
}
