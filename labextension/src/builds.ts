/**
 * The panel's build: ask for it, follow its log to the end, and make the
 * environment ready to open; cancel it; show a build of the history again.
 */

import { ServerConnection } from '@jupyterlab/services';
import { IDisposable } from '@lumino/disposable';

import { followBuildLog } from './buildLog';
import { Messages, recipeProblem } from './messages';
import { IDraft } from './recipe';
import { requestAPI } from './request';
import { finished, freshBuildView, IBuildView, IReady, IState } from './state';
import { IBuild, IBuildReply, IPublishedEnvironment, IRecipe } from './tokens';

/** What the builds need of the model that holds their state. */
export interface IBuildsHost {
  /** The model's state now. */
  state(): IState;
  update(change: Partial<IState>): void;
  /** How many log lines to keep (a setting that may change at any time). */
  maxLogLines(): number;
  refreshLists(): Promise<void>;
  /** An environment can be opened: built, or found already built. */
  ready(ready: IReady): void;
}

/** Starts, follows and cancels builds; one at a time: while one runs, calls share it. */
export class Builds implements IDisposable {
  constructor(
    host: IBuildsHost,
    messages: Messages,
    serverSettings: ServerConnection.ISettings
  ) {
    this._host = host;
    this._messages = messages;
    this._serverSettings = serverSettings;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Build `recipe` and follow its log; `draft` is the panel's fields when the
   * recipe comes from them, so that a refused recipe marks its field.
   *
   * Resolves with the environment once it can be opened, or `null` when the
   * build failed or was cancelled (the state says why). An environment that
   * exists already resolves at once.
   */
  build(recipe: IRecipe, draft: IDraft | null): Promise<IReady | null> {
    return this._running ?? this._run(this._build(recipe, draft));
  }

  /** Cancel the running build; the log's end event then says it was cancelled. */
  async cancel(): Promise<void> {
    const record = this._host.state().build?.record;
    if (!record || finished(record) || record.following) {
      return; // a followed build is its owner's to cancel
    }
    try {
      const reply = await requestAPI<IBuild>(
        `builds/${record.id}`,
        { method: 'DELETE' },
        this._serverSettings
      );
      this._updateBuild({ record: reply });
    } catch (error) {
      this._updateBuild({ error: this._messages.sentence(error) });
    }
  }

  /**
   * Show a build of the history: follow it if it runs, else replay its log
   * and its result. Ignored while the panel's own build runs.
   */
  show(record: IBuild): Promise<IReady | null> {
    if (this._running) {
      return this._running;
    }
    this._abort?.abort();
    const replay = finished(record);
    this._host.update({ build: freshBuildView(record.recipe, record, { replay }) });
    return this._run(this._watch(record.recipe, record, !replay));
  }

  /** Follow this user's newest unfinished build, if any (after a page reload). */
  async resume(): Promise<void> {
    if (this._running || this._host.state().build) {
      return;
    }
    let builds: IBuild[];
    try {
      builds = (
        await requestAPI<{ builds: IBuild[] }>('builds', { method: 'GET' }, this._serverSettings)
      ).builds;
    } catch {
      return; // the status banner says what is wrong
    }
    const running = builds.find(b => !finished(b));
    if (!running || this._running || this._host.state().build) {
      return;
    }
    void this._run(this._watch(running.recipe, running));
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._abort?.abort();
  }

  /** Remember the build in progress until it settles, so that calls share it. */
  private _run(work: Promise<IReady | null>): Promise<IReady | null> {
    const running = work.finally(() => {
      if (this._running === running) {
        this._running = null;
      }
    });
    this._running = running;
    return running;
  }

  private async _build(recipe: IRecipe, draft: IDraft | null): Promise<IReady | null> {
    this._abort?.abort();
    this._host.update({ build: freshBuildView(recipe, null, { submitting: true }) });
    let reply: IBuildReply;
    try {
      reply = await this._submit(recipe);
    } catch (error) {
      const problem = draft ? recipeProblem(error, draft) : null;
      if (problem) {
        const check = this._host.state().check;
        this._host.update({ check: { ...check, problems: [problem] } });
      }
      this._updateBuild({ submitting: false, error: this._messages.sentence(error) });
      return null;
    }
    if (reply.environment) {
      this._updateBuild({ submitting: false });
      return this._ready(recipe, reply.environment);
    }
    this._updateBuild({ submitting: false, record: reply.build });
    return this._watch(recipe, reply.build!);
  }

  private _submit(recipe: IRecipe): Promise<IBuildReply> {
    return requestAPI<IBuildReply>(
      'builds',
      { method: 'POST', body: JSON.stringify(recipe) },
      this._serverSettings
    );
  }

  /**
   * Follow a build's log to its end; then make its kernelspec ready (unless
   * `prepare` is false: a finished build of the history is only shown, never
   * built again if its environment was deleted since).
   */
  private async _watch(
    recipe: IRecipe,
    record: IBuild,
    prepare = true
  ): Promise<IReady | null> {
    if (this._host.state().build?.record?.id !== record.id) {
      this._host.update({ build: freshBuildView(recipe, record) });
    }
    const controller = new AbortController();
    this._abort = controller;
    let end: IBuild | null;
    try {
      end = await followBuildLog(
        record.id,
        {
          lines: lines => this._appendLines(lines),
          progress: progress => {
            if (this._host.state().build?.record?.id === record.id && !finished(progress)) {
              this._updateBuild({ record: progress });
            }
          }
        },
        controller.signal,
        this._serverSettings
      );
    } catch (error) {
      this._updateBuild({ error: this._messages.sentence(error) });
      return null;
    }
    if (!end) {
      return null;
    }
    this._updateBuild({ record: end });
    void this._host.refreshLists();
    if (end.state === 'succeeded' && !prepare) {
      return null;
    }
    if (end.state === 'succeeded' && end.environment) {
      return this._readyAfter(recipe, end, end.environment);
    }
    this._updateBuild({ error: this._messages.buildEnded(end) });
    return null;
  }

  /**
   * The end event names the kernelspec for the build's own dataset. When this
   * user asked for the same image with another dataset while it was building
   * (another tab, a notebook's rebuild), the build is theirs with its first
   * dataset: asking again answers at once and publishes this dataset's kernelspec.
   */
  private async _readyAfter(
    recipe: IRecipe,
    end: IBuild,
    environment: IPublishedEnvironment
  ): Promise<IReady | null> {
    if ((end.recipe.dataset ?? null) === (recipe.dataset ?? null)) {
      return this._ready(recipe, environment);
    }
    try {
      const reply = await this._submit(recipe);
      if (reply.environment) {
        return this._ready(recipe, reply.environment);
      }
    } catch (error) {
      this._updateBuild({ error: this._messages.sentence(error) });
      return null;
    }
    this._updateBuild({ error: this._messages.buildEnded(end) });
    return null;
  }

  /** Lines arrive in batches; only the newest `maxLogLines` are kept. */
  private _appendLines(lines: string[]): void {
    const build = this._host.state().build;
    if (!build) {
      return;
    }
    const log = build.log.concat(lines);
    const excess = Math.max(0, log.length - this._host.maxLogLines());
    this._updateBuild({
      log: excess ? log.slice(excess) : log,
      dropped: build.dropped + excess
    });
  }

  private _ready(recipe: IRecipe, environment: IPublishedEnvironment): IReady {
    const ready: IReady = {
      recipe,
      environment: environment.id,
      contentHash: environment.content_hash,
      imageId: environment.image_id ?? null,
      kernelspec: environment.kernelspec,
      ...(environment.lock ? { lock: environment.lock } : {}) // issue 17
    };
    this._updateBuild({ ready });
    this._host.ready(ready);
    void this._host.refreshLists();
    return ready;
  }

  private _updateBuild(change: Partial<IBuildView>): void {
    const build = this._host.state().build;
    if (build) {
      this._host.update({ build: { ...build, ...change } });
    }
  }

  private _host: IBuildsHost;
  private _messages: Messages;
  private _serverSettings: ServerConnection.ISettings;
  private _running: Promise<IReady | null> | null = null;
  private _abort: AbortController | null = null;
  private _isDisposed = false;
}
