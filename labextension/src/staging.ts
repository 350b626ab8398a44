/**
 * Staging a dataset from archive files (issue 19): post the pasted list, follow
 * the request's progress in files and bytes, cancel it.
 *
 * The model owns one `Stager`; its form (components/StagingForm.tsx) only reads
 * its state and calls these methods. The server checks every file's access
 * before anything moves and writes the sentences shown here.
 */

import { ISignal, Signal } from '@lumino/signaling';

/** A staging request as `GET staging/<id>` describes it. */
export interface IStagingView {
  id: string;
  dataset: string;
  title: string;
  state: 'queued' | 'staging' | 'complete' | 'failed' | 'cancelled';
  message: string;
  files_total: number;
  files_done: number;
  /** `null` while an archive has not said how big a file is. */
  bytes_total: number | null;
  bytes_done: number;
}

export interface IStagerState {
  /** The request being followed (or the last one), or `null`. */
  request: IStagingView | null;
  /** Why the last post failed (a refused file, a bad id), or `null`. */
  error: string | null;
  posting: boolean;
}

/** What the stager needs from the model: its requests and its sentences. */
export interface IStagerHost {
  request: <T>(endPoint: string, init?: RequestInit) => Promise<T>;
  sentence: (error: unknown) => string;
  /** A dataset became complete: the picker reads the datasets again. */
  completed: (request: IStagingView) => void;
}

const FINISHED = ['complete', 'failed', 'cancelled'];

export class Stager {
  constructor(host: IStagerHost, pollMs = 500) {
    this._host = host;
    this._pollMs = pollMs;
  }

  get state(): IStagerState {
    return this._state;
  }

  get changed(): ISignal<this, IStagerState> {
    return this._changed;
  }

  /** Stage the files of a pasted list (ids or URLs, one per line) as the dataset `name`. */
  async stage(files: string, name: string): Promise<void> {
    this._update({ posting: true, error: null });
    try {
      const body: Record<string, string> = { files };
      if (name.trim()) {
        body.dataset = name.trim();
      }
      const reply = await this._host.request<{ request: IStagingView }>('datasets', {
        method: 'POST',
        body: JSON.stringify(body)
      });
      this._update({ posting: false, request: reply.request });
      void this._follow(reply.request.id);
    } catch (error) {
      this._update({ posting: false, error: this._host.sentence(error) });
    }
  }

  /** Cancel the request being followed; nothing of it is kept. */
  async cancel(): Promise<void> {
    const current = this._state.request;
    if (!current || FINISHED.includes(current.state)) {
      return;
    }
    try {
      const reply = await this._host.request<{ request: IStagingView }>(
        `staging/${encodeURIComponent(current.id)}/cancel`,
        { method: 'POST', body: '{}' }
      );
      this._update({ request: reply.request });
    } catch (error) {
      this._update({ error: this._host.sentence(error) });
    }
  }

  dispose(): void {
    this._disposed = true;
  }

  private async _follow(id: string): Promise<void> {
    while (!this._disposed && this._state.request?.id === id) {
      await new Promise(resolve => setTimeout(resolve, this._pollMs));
      try {
        const reply = await this._host.request<{ request: IStagingView }>(
          `staging/${encodeURIComponent(id)}`
        );
        if (this._state.request?.id !== id) {
          return;
        }
        this._update({ request: reply.request });
        if (FINISHED.includes(reply.request.state)) {
          if (reply.request.state === 'complete') {
            this._host.completed(reply.request);
          }
          return;
        }
      } catch (error) {
        this._update({ error: this._host.sentence(error) });
        return;
      }
    }
  }

  private _update(change: Partial<IStagerState>): void {
    this._state = { ...this._state, ...change };
    this._changed.emit(this._state);
  }

  private _host: IStagerHost;
  private _pollMs: number;
  private _disposed = false;
  private _state: IStagerState = { request: null, error: null, posting: false };
  private _changed = new Signal<this, IStagerState>(this);
}
