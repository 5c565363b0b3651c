/** Lambda entry point of the list function. */
import type { Context, SQSEvent } from "aws-lambda";
import { lambdaDeps } from "../aws/lambdaRuntime.ts";
import type { SqsBatchHandler } from "../sqsBatch.ts";
import { createListHandler } from "./handler.ts";

let built: SqsBatchHandler | undefined;

export const handler: SqsBatchHandler = (event: SQSEvent, context: Context) => {
  built ??= createListHandler(lambdaDeps());
  return built(event, context);
};
