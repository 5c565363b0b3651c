/** Lambda entry point of the start-job function (a schedule's target). */
import type { Context } from "aws-lambda";
import { startLambdaDeps } from "../aws/lambdaRuntime.ts";
import { createStartHandler, type StartHandler } from "./handler.ts";

let built: StartHandler | undefined;

export const handler: StartHandler = (event: unknown, context: Context) => {
  built ??= createStartHandler(startLambdaDeps());
  return built(event, context);
};
