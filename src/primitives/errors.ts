/**
 * The one error class of the service. It carries the HTTP status and the stable
 * `code` of the contract's error body; one middleware maps it to
 * `{"error": {"code", "message"}}` and the CLI prints its message.
 */
export class CountersignError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CountersignError';
    this.status = status;
    this.code = code;
  }
}

export const badRequest = (code: string, message: string) => new CountersignError(400, code, message);
export const unauthorized = (message: string) => new CountersignError(401, 'unauthorized', message);
export const forbidden = (message: string) => new CountersignError(403, 'forbidden', message);
export const notFound = (message: string) => new CountersignError(404, 'not_found', message);
export const conflict = (code: string, message: string) => new CountersignError(409, code, message);
export const unprocessable = (code: string, message: string) => new CountersignError(422, code, message);
export const notReady = (message: string) => new CountersignError(503, 'not_ready', message);
