/**
 * The state of the StarDock panel and the only caller of `requestAPI`.
 */

import { ServerConnection } from '@jupyterlab/services';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { isRecord, requestAPI, ResponseError } from './request';
import {
  DEFAULT_SETTINGS,
  IBaseImageInfo,
  IEngineInfo,
  IStatusReply,
  TRANSLATION_DOMAIN
} from './tokens';

/**
 * Owns what the panel shows: the last status reply and, when something is
 * wrong, the sentence the user should read.
 */
export class StarDockModel implements IDisposable {
  constructor(options: StarDockModel.IOptions = {}) {
    this._trans = (options.translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    this._serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
    this.refreshInterval =
      options.refreshInterval ?? DEFAULT_SETTINGS.refreshInterval;
  }

  /** What the panel shows now. */
  get state(): StarDockModel.IState {
    return this._state;
  }

  /** Emitted with the new state whenever it changes. */
  get stateChanged(): ISignal<this, StarDockModel.IState> {
    return this._stateChanged;
  }

  /** Seconds between two automatic status requests; 0 turns them off. */
  get refreshInterval(): number {
    return this._refreshInterval;
  }
  set refreshInterval(seconds: number) {
    const value = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    if (value === this._refreshInterval) {
      return;
    }
    this._refreshInterval = value;
    this._poll?.dispose();
    this._poll = null;
    if (value > 0 && !this._isDisposed) {
      this._poll = new Poll({
        auto: false,
        factory: () => this.refresh(),
        // Failures are already shown in the banner; a fixed pace lets the panel
        // notice promptly when the engine comes back.
        frequency: { interval: value * 1000, backoff: false },
        name: 'jupyter-stardock:status',
        standby: 'when-hidden'
      });
      // The first tick waits one interval: whoever creates the model asks for the
      // first status itself, so a settings change does not cause a burst.
      void this._poll.schedule({ interval: value * 1000, phase: 'started' });
    }
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Ask the server for its status now.
   *
   * Never rejects: every failure becomes a state with a sentence for the user.
   * Calls made while a request is in flight share it.
   */
  refresh(): Promise<void> {
    if (!this._pending) {
      this._setState({ ...this._state, refreshing: true });
      this._pending = this._fetchStatus().finally(() => {
        this._pending = null;
      });
    }
    return this._pending;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll?.dispose();
    this._poll = null;
    Signal.clearData(this);
  }

  private async _fetchStatus(): Promise<void> {
    let next: Pick<StarDockModel.IState, 'phase' | 'status' | 'message'>;
    try {
      const reply = await requestAPI<unknown>(
        'status',
        { method: 'GET' },
        this._serverSettings
      );
      const status = parseStatusReply(reply);
      next = status
        ? { phase: 'ready', status, message: null }
        : { phase: 'error', status: null, message: this._unexpectedReply() };
    } catch (error) {
      next = { ...this._describeFailure(error), status: knownVersion(error) };
    }
    this._setState({ ...next, refreshing: false, updated: new Date() });
  }

  private _describeFailure(
    error: unknown
  ): Pick<StarDockModel.IState, 'phase' | 'message'> {
    const trans = this._trans;
    if (error instanceof ResponseError) {
      switch (error.status) {
        case 404:
          return {
            phase: 'server-missing',
            message: trans.__(
              'The StarDock server extension is not installed or not enabled. Run: pip install jupyter-stardock, then jupyter server extension enable jupyter_stardock, and restart JupyterLab.'
            )
          };
        case 503:
          return {
            phase: 'engine-down',
            message:
              error.serverMessage ??
              trans.__(
                'The container engine cannot be reached. Start Docker or Podman on the Jupyter server, then refresh this panel.'
              )
          };
        default:
          return {
            phase: 'error',
            message:
              error.serverMessage ??
              trans.__(
                'The StarDock server extension answered with HTTP %1. The Jupyter server log has the details.',
                error.status
              )
          };
      }
    }
    if (error instanceof ServerConnection.NetworkError) {
      return {
        phase: 'error',
        message: trans.__(
          'The Jupyter server cannot be reached. Check that it is still running, then refresh this panel.'
        )
      };
    }
    // A bug of ours rather than a server reply: keep it visible in the console.
    console.error('jupyter-stardock: status request failed', error);
    return {
      phase: 'error',
      message: trans.__(
        'The StarDock panel could not read the server status: %1',
        String(error)
      )
    };
  }

  private _unexpectedReply(): string {
    return this._trans.__(
      'The StarDock server extension sent a status reply this panel does not understand. Install the same jupyter-stardock version for both, then restart JupyterLab.'
    );
  }

  private _setState(state: StarDockModel.IState): void {
    if (this._isDisposed) {
      return;
    }
    this._state = state;
    this._stateChanged.emit(state);
  }

  private _trans: TranslationBundle;
  private _serverSettings: ServerConnection.ISettings;
  private _refreshInterval = 0;
  private _poll: Poll | null = null;
  private _pending: Promise<void> | null = null;
  private _isDisposed = false;
  private _state: StarDockModel.IState = {
    phase: 'loading',
    status: null,
    message: null,
    refreshing: false,
    updated: null
  };
  private _stateChanged = new Signal<this, StarDockModel.IState>(this);
}

export namespace StarDockModel {
  /**
   * Where the panel stands.
   *
   * - `loading`: no reply yet.
   * - `ready`: the server answered with a status.
   * - `engine-down`: the server extension runs but cannot reach the engine (503).
   * - `server-missing`: the server extension is not installed or enabled (404).
   * - `error`: anything else; `message` says what.
   */
  export type Phase =
    | 'loading'
    | 'ready'
    | 'engine-down'
    | 'server-missing'
    | 'error';

  export interface IState {
    readonly phase: Phase;
    /**
     * The last status reply. When the engine is down it holds only the server
     * extension's version (engine and base image `null`); `null` when even
     * that is unknown.
     */
    readonly status: IStatusReply | null;
    /** A sentence for the banner; `null` when all is well. */
    readonly message: string | null;
    /** Whether a status request is in flight. */
    readonly refreshing: boolean;
    /** When the last reply (or failure) arrived. */
    readonly updated: Date | null;
  }

  export interface IOptions {
    /** Translates the sentences the model writes. */
    translator?: ITranslator;
    /** Seconds between two automatic status requests; 0 turns them off. */
    refreshInterval?: number;
    /** Server connection settings; the page's own by default. */
    serverSettings?: ServerConnection.ISettings;
  }
}

/**
 * Check the shape of a status reply.
 *
 * Returns `null` when the reply lacks what the panel needs, so that a version
 * mismatch between frontend and server shows as a sentence, not a crash.
 */
export function parseStatusReply(data: unknown): IStatusReply | null {
  if (!isRecord(data) || typeof data.version !== 'string') {
    return null;
  }
  const engine = data.engine ?? null;
  const baseImage = data.base_image ?? null;
  if (engine !== null && !(isRecord(engine) && typeof engine.version === 'string')) {
    return null;
  }
  if (
    baseImage !== null &&
    !(isRecord(baseImage) && typeof baseImage.name === 'string')
  ) {
    return null;
  }
  return {
    ...data,
    version: data.version,
    engine: engine as IEngineInfo | null,
    base_image:
      baseImage === null
        ? null
        : ({
            ...baseImage,
            exists: baseImage.exists === true
          } as IBaseImageInfo)
  };
}

/**
 * What a failed status request still tells: StarDock's own errors carry the
 * server extension's version, so the panel can show it while the engine is down.
 */
function knownVersion(error: unknown): IStatusReply | null {
  const version = error instanceof ResponseError ? error.reply?.version : null;
  return typeof version === 'string'
    ? { version, engine: null, base_image: null }
    : null;
}
