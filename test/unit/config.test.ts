import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { configFromEnv } from "../../lambdas/config.ts";
import { ConfigError } from "../../lambdas/core/errors.ts";

const QUEUES = {
  LIST_QUEUE_URL: "https://sqs.example/list",
  COPY_QUEUE_URL: "https://sqs.example/copy",
  LIST_DLQ_URL: "https://sqs.example/list-dlq",
  COPY_DLQ_URL: "https://sqs.example/copy-dlq",
};

describe("configFromEnv", () => {
  it("staggers split ranges by 3 s and gives throttled keys 20 deliveries by default", () => {
    const config = configFromEnv(QUEUES);
    assert.equal(config.listSplitStaggerSeconds, 3);
    assert.equal(config.listSplitParts, 8);
    assert.equal(config.copyPolicy.maxDeliveries, 5);
    assert.equal(config.copyPolicy.maxThrottledDeliveries, 20);
  });

  it("reads the stagger and the throttled deliveries from the environment", () => {
    const config = configFromEnv({ ...QUEUES, LIST_SPLIT_STAGGER_SECONDS: "0", COPY_MAX_THROTTLED_DELIVERIES: "7" });
    assert.equal(config.listSplitStaggerSeconds, 0);
    assert.equal(config.copyPolicy.maxThrottledDeliveries, 7);
  });

  it("refuses a stagger that would delay the last split range past SQS's 900 s", () => {
    assert.throws(
      () => configFromEnv({ ...QUEUES, LIST_SPLIT_STAGGER_SECONDS: "120", LIST_SPLIT_PARTS: "8" }),
      (err: unknown) => err instanceof ConfigError && /LIST_SPLIT_STAGGER_SECONDS x LIST_SPLIT_PARTS must be at most 900/.test(err.message),
    );
    assert.equal(configFromEnv({ ...QUEUES, LIST_SPLIT_STAGGER_SECONDS: "112", LIST_SPLIT_PARTS: "8" }).listSplitStaggerSeconds, 112);
  });

  it("refuses a malformed number with the variable's name", () => {
    assert.throws(
      () => configFromEnv({ ...QUEUES, COPY_MAX_THROTTLED_DELIVERIES: "0" }),
      (err: unknown) => err instanceof ConfigError && /COPY_MAX_THROTTLED_DELIVERIES must be an integer >= 1/.test(err.message),
    );
  });
});
