/**
 * Following a build's log: Server-Sent Events, resumed after the last line
 * seen when the connection drops, delivered in batches the panel can draw.
 */

import { ServerConnection } from '@jupyterlab/services';

import { isRecord, IServerEvent, requestEvents, ResponseError } from './request';
import { IBuild } from './tokens';

/** What a follower reports while the log streams. */
export interface IBuildLogHandlers {
  /** New lines, in order, at most ten times a second (lines arrive fast). */
  lines(lines: string[]): void;
  /** The build, sent by the server along with the lines that start a step. */
  progress(record: IBuild): void;
}

/** How long a follower keeps trying when the stream fails (not when it closes early). */
const MAX_FAILURES = 5;

/**
 * Follow the log of build `id` until its `end` event.
 *
 * Resolves with the finished build, or `null` once `signal` aborts (the lines
 * still queued are then dropped: whoever aborted shows another build).
 *
 * @throws the last error when the log cannot be read: the build is unknown
 *   (404), or the stream failed `MAX_FAILURES` times in a row.
 */
export async function followBuildLog(
  id: string,
  handlers: IBuildLogHandlers,
  signal: AbortSignal,
  settings: ServerConnection.ISettings
): Promise<IBuild | null> {
  const batch = new LineBatch(handlers.lines);
  let offset = 0;
  let end: IBuild | null = null;
  let failures = 0;
  const onEvent = (event: IServerEvent): void => {
    if (event.event === 'end') {
      end = parseBuild(event.data);
      return;
    }
    if (event.event === 'progress') {
      const record = parseBuild(event.data);
      if (record) {
        handlers.progress(record);
      }
      return;
    }
    batch.push(event.data);
    if (event.id !== null && /^\d+$/.test(event.id)) {
      offset = Number(event.id) + 1;
    }
  };
  try {
    while (!end && !signal.aborted) {
      try {
        await requestEvents(`builds/${id}/log?offset=${offset}`, onEvent, { signal }, settings);
        failures = 0;
      } catch (error) {
        if (signal.aborted) {
          break;
        }
        if ((error instanceof ResponseError && error.status === 404) || ++failures > MAX_FAILURES) {
          batch.flush();
          throw error;
        }
        await sleep(1000 * failures);
      }
      if (!end && !signal.aborted) {
        await sleep(200); // the stream closed early (a proxy timeout): resume
      }
    }
    if (!signal.aborted) {
      batch.flush();
    }
    return signal.aborted ? null : end;
  } finally {
    batch.dispose();
  }
}

/** Lines queued for at most 100 ms, then handed over together. */
class LineBatch {
  constructor(private readonly _deliver: (lines: string[]) => void) {}

  push(line: string): void {
    this._lines.push(line);
    if (!this._timer) {
      this._timer = window.setTimeout(() => this.flush(), 100);
    }
  }

  flush(): void {
    window.clearTimeout(this._timer);
    this._timer = 0;
    const lines = this._lines;
    this._lines = [];
    if (lines.length) {
      this._deliver(lines);
    }
  }

  dispose(): void {
    window.clearTimeout(this._timer);
    this._timer = 0;
    this._lines = [];
  }

  private _lines: string[] = [];
  private _timer = 0;
}

/** The build in an `end` or `progress` event, or `null` when it does not look like one. */
function parseBuild(data: string): IBuild | null {
  try {
    const value: unknown = JSON.parse(data);
    return isRecord(value) && typeof value.state === 'string'
      ? (value as unknown as IBuild)
      : null;
  } catch {
    return null;
  }
}

/** A pause between two tries (not cancellable: the caller checks its signal after it). */
export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => window.setTimeout(resolve, ms));
}
