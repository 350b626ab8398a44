/**
 * The one way the frontend talks to the StarDock server extension.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_NAMESPACE } from './tokens';

/**
 * An HTTP error reply from the server extension.
 *
 * `status` is the HTTP status; `message` is the sentence the server wrote for
 * the user (the `message` field of its JSON body) or, when the body carries
 * none (a proxy page, a missing route), the HTTP status text. `reply` is the
 * whole JSON body, or `null` when the body was not a JSON object.
 */
export class ResponseError extends ServerConnection.ResponseError {
  /** The HTTP status of the reply. */
  readonly status: number;
  /** The server's own sentence, or `null` when the body had none. */
  readonly serverMessage: string | null;
  /** The JSON body of the reply, or `null` when it was not a JSON object. */
  readonly reply: Record<string, unknown> | null;

  constructor(response: Response, reply: Record<string, unknown> | null) {
    const message = typeof reply?.message === 'string' ? reply.message : null;
    super(
      response,
      message ?? `${response.status} ${response.statusText || 'HTTP error'}`.trim(),
      typeof reply?.traceback === 'string' ? reply.traceback : ''
    );
    this.name = 'StarDockResponseError';
    this.status = response.status;
    this.serverMessage = message;
    this.reply = reply;
  }
}

/**
 * Call the server extension's REST API.
 *
 * @param endPoint - path below `<baseUrl>/stardock/api/`, e.g. `"status"`.
 * @param init - fetch options (method, body, ...).
 * @param settings - server connection settings; the page's own by default.
 * @returns the parsed JSON body, or `null` for an empty body.
 * @throws {ResponseError} when the server answers with a non-2xx status.
 * @throws {ServerConnection.NetworkError} when the server cannot be reached.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, ...API_NAMESPACE, endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);

  const text = await response.text();
  let data: unknown = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // Not JSON (for example the HTML page of a missing route): keep the raw text
      // for a successful reply and fall back to the status text for an error.
      data = text;
    }
  }

  if (!response.ok) {
    throw new ResponseError(response, isRecord(data) ? data : null);
  }
  return data as T;
}

/** Whether a parsed JSON value is an object (not an array, not `null`). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
