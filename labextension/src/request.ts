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
  const response = await send(endPoint, init, settings);
  return parseBody(await response.text()) as T;
}

/** One Server-Sent Event. */
export interface IServerEvent {
  /** The event type; `"message"` when the server named none. */
  event: string;
  /** The event id (StarDock's build log: the line number), or `null`. */
  id: string | null;
  data: string;
}

/**
 * Read a Server-Sent Events endpoint of the API as it streams.
 *
 * Unlike `EventSource`, this goes through the same server connection settings
 * (and so the same authentication) as `requestAPI`. Resolves when the server
 * closes the stream; abort it with `init.signal`.
 *
 * @throws {ResponseError} when the server answers with a non-2xx status.
 * @throws {ServerConnection.NetworkError} when the server cannot be reached.
 */
export async function requestEvents(
  endPoint: string,
  onEvent: (event: IServerEvent) => void,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<void> {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'text/event-stream');
  const response = await send(endPoint, { ...init, headers }, settings);
  const parser = new EventStreamParser();
  const emit = (text: string): void => parser.push(text).forEach(onEvent);
  if (!response.body) {
    emit(await response.text());
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    emit(decoder.decode(value, { stream: true }));
  }
  emit(decoder.decode() + '\n\n');
}

/**
 * Splits a `text/event-stream` body, fed in arbitrary chunks, into events
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 */
export class EventStreamParser {
  /** Feed the next chunk of text; returns the events it completed. */
  push(text: string): IServerEvent[] {
    this._buffer += text.replace(/\r\n?/g, '\n');
    const events: IServerEvent[] = [];
    let end: number;
    while ((end = this._buffer.indexOf('\n\n')) >= 0) {
      const block = this._buffer.slice(0, end);
      this._buffer = this._buffer.slice(end + 2);
      const event = parseBlock(block);
      if (event) {
        events.push(event);
      }
    }
    return events;
  }

  private _buffer = '';
}

function parseBlock(block: string): IServerEvent | null {
  let event = 'message';
  let id: string | null = null;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) {
      continue; // a comment, such as a keep-alive
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      event = value;
    } else if (field === 'id') {
      id = value;
    } else if (field === 'data') {
      data.push(value);
    }
  }
  return data.length > 0 ? { event, id, data: data.join('\n') } : null;
}

/** Send a request below the API namespace; throw a `ResponseError` for a non-2xx reply. */
async function send(
  endPoint: string,
  init: RequestInit,
  settings: ServerConnection.ISettings
): Promise<Response> {
  const url = URLExt.join(settings.baseUrl, ...API_NAMESPACE, endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  if (!response.ok) {
    const data = parseBody(await response.text());
    throw new ResponseError(response, isRecord(data) ? data : null);
  }
  return response;
}

/**
 * JSON when the body is JSON; the raw text otherwise (for example the HTML page
 * of a missing route), which an error reply replaces with its status text.
 */
function parseBody(text: string): unknown {
  if (text.length === 0) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Whether a parsed JSON value is an object (not an array, not `null`). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
