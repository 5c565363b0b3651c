/** Lambda entry point of the live function. */
import type { Context, SQSEvent } from "aws-lambda";
import { liveLambdaDeps } from "../aws/liveRuntime.ts";
import type { SqsBatchHandler } from "../sqsBatch.ts";
import { createLiveHandler } from "./handler.ts";

let built: SqsBatchHandler | undefined;

export const handler: SqsBatchHandler = (event: SQSEvent, context: Context) => {
  built ??= createLiveHandler(liveLambdaDeps());
  return built(event, context);
};
