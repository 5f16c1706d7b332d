/** Errors that retrying cannot fix: the input data or the request must change first. Steps fail them as non-retryable, named by their `name`. */
export class InputDataError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}
