/** Checks before a job starts: both buckets reachable, selections apart. They live with the job start (lambdas/aws/jobStart.ts), which a scheduled run uses too. */
export { checkBucket, PreflightError, preflight } from "../../lambdas/aws/jobStart.ts";
