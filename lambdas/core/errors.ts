/** Typed errors of the domain; names end in Error and `name` is set. */
export class S3FanoutError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A key that cannot be represented (lone surrogate, bad encoding). */
export class InvalidKeyError extends S3FanoutError {}

/** A message that failed schema validation: poison, never retried. */
export class MalformedMessageError extends S3FanoutError {}

/** Configuration that is missing or invalid at cold start. */
export class ConfigError extends S3FanoutError {}

/** Bad operator input: one clear line, non-zero exit. */
export class UsageError extends S3FanoutError {}
