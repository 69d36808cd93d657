// Talking to the HTTP API: errors in its {"error": {code, message}} shape, uploads with progress.

/** An answer other than 2xx, carrying the API's error code and human message. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** Worth trying again with the same file (rate limit, service briefly unavailable, network). */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

function errorFrom(status, text, retryAfter) {
  try {
    const { error } = JSON.parse(text);
    if (error && typeof error.message === "string") {
      return new ApiError(status, error.code || "error", error.message, retryAfter);
    }
  } catch {
    // not JSON: fall through to a generic sentence
  }
  return new ApiError(status, "http_error", `The service answered with HTTP ${status}.`, retryAfter);
}

/** fetch() with the job's bearer token; resolves to the Response, throws ApiError when not 2xx. */
export async function call(path, { token, method = "GET", headers = {}, signal } = {}) {
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  let response;
  try {
    response = await fetch(path, { method, headers: { ...auth, ...headers }, cache: "no-store", signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "The service could not be reached. Check your connection and try again.");
  }
  if (!response.ok) {
    throw errorFrom(response.status, await response.text(), response.headers.get("retry-after"));
  }
  return response;
}

/** A random key for Idempotency-Key: the same file retried is the same job, never two. */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // works without a secure context
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * POST /v1/jobs with a multipart body; onProgress(fraction) while the bytes go up.
 *
 * XMLHttpRequest rather than fetch(): only it reports upload progress, which matters for a
 * 25 MB photo on a phone. Resolves to the 202 body, rejects with ApiError.
 */
export function uploadJob(formData, { idempotencyKey, onProgress }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/jobs");
    xhr.setRequestHeader("Idempotency-Key", idempotencyKey);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 202 || xhr.status === 200 || xhr.status === 201) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, "bad_answer", "The service gave an answer this page cannot read."));
        }
      } else {
        reject(errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader("retry-after")));
      }
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "network_error", "The upload did not reach the service. Check your connection and try again.")),
    );
    xhr.send(formData);
  });
}
