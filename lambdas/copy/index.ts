/** Lambda entry point of the copy function. */
import type { Context, SQSEvent } from "aws-lambda";
import { lambdaDeps } from "../aws/lambdaRuntime.ts";
import type { SqsBatchHandler } from "../sqsBatch.ts";
import { createCopyHandler } from "./handler.ts";

let built: SqsBatchHandler | undefined;

export const handler: SqsBatchHandler = (event: SQSEvent, context: Context) => {
  built ??= createCopyHandler(lambdaDeps());
  return built(event, context);
};
