/**
 * API errors in OpenAI's shape. Every failure the server reports is an `ApiError` with an HTTP
 * status and the body `{"error": {"message", "type", "param", "code"}}` that OpenAI clients
 * parse: 400 invalid_request_error (malformed JSON, wrong types, bad token ids, too long),
 * 401 authentication_error, 404 not_found_error (unknown model or route), 405, 413 (body too
 * large), 429 rate_limit_error (queue full, with Retry-After), 503 (shutting down), 500
 * server_error (a bug: logged with its stack, the server keeps serving).
 */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 for a request the server understood but cannot accept (`param` names the offending field). */
export function badRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, "invalid_request_error", param, code);
}
