/**
 * The state of the StarDock panel and the only caller of `requestAPI`.
 */

import { KernelAPI, ServerConnection } from '@jupyterlab/services';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import {
  commandLines,
  draftToRecipe,
  EMPTY_DRAFT,
  IDraft,
  IRecipeProblem,
  locateProblem,
  recipeToDraft,
  sameRecipe
} from './recipe';
import {
  isRecord,
  IServerEvent,
  requestAPI,
  requestEvents,
  ResponseError
} from './request';
import {
  DEFAULT_SETTINGS,
  IApp,
  IArchive,
  IBaseImageInfo,
  IBuild,
  IBuildReply,
  IDataset,
  IDockerfileReply,
  IEngineInfo,
  IEnvironment,
  IKernelInfo,
  IRecipe,
  IStatusReply,
  TRANSLATION_DOMAIN
} from './tokens';

/**
 * Owns what the panel shows: the server's status, the catalog, the recipe
 * being written and its check, the build, and the environments, kernels and
 * archives; and, when something is wrong, the sentence the user should read.
 */
export class StarDockModel implements IDisposable {
  constructor(options: StarDockModel.IOptions = {}) {
    this._trans = (options.translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    this._serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
    this._shutdownKernel =
      options.shutdownKernel ??
      (id => KernelAPI.shutdownKernel(id, this._serverSettings));
    this.maxLogLines = options.maxLogLines ?? DEFAULT_SETTINGS.maxLogLines;
    this.checkDelay = options.checkDelay ?? DEFAULT_SETTINGS.checkDelay;
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

  /** Emitted when an environment can be opened: built, or found already built. */
  get environmentReady(): ISignal<this, StarDockModel.IReady> {
    return this._environmentReady;
  }

  /** How many build log lines are kept; older ones are dropped. */
  maxLogLines: number;

  /** Milliseconds between the last change of the recipe and its check. */
  checkDelay: number;

  /** Seconds between two automatic refreshes; 0 turns them off. */
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
        factory: () => Promise.all([this.refresh(), this.refreshLists()]),
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

  /** The URL that downloads a kernel's archive (the browser's own session authenticates it). */
  archiveUrl(kernelId: string): string {
    return `${this._serverSettings.baseUrl.replace(/\/?$/, '/')}stardock/api/archives/${encodeURIComponent(kernelId)}`;
  }

  // -- status ------------------------------------------------------------

  /**
   * Ask the server for its status now.
   *
   * Never rejects: every failure becomes a state with a sentence for the user.
   * Calls made while a request is in flight share it.
   */
  refresh(): Promise<void> {
    if (!this._pending) {
      this._update({ refreshing: true });
      this._pending = this._fetchStatus().finally(() => {
        this._pending = null;
      });
    }
    return this._pending;
  }

  /** Everything at once: status, catalog, lists, and a build left running before a reload. */
  async load(): Promise<void> {
    await Promise.all([
      this.refresh(),
      this.loadCatalog(),
      this.refreshLists(),
      this.resumeBuild()
    ]);
    void this.check();
  }

  // -- catalog and datasets ------------------------------------------------

  /** Read the datasets this user may mount and the app catalog. Never rejects. */
  async loadCatalog(): Promise<void> {
    const [datasets, apps] = await Promise.allSettled([
      this._get<{ datasets: IDataset[] }>('datasets'),
      this._get<{ apps: IApp[]; problems?: string[] }>('apps')
    ]);
    const failure = [datasets, apps].find(r => r.status === 'rejected') as
      | PromiseRejectedResult
      | undefined;
    this._update({
      datasets:
        datasets.status === 'fulfilled'
          ? (datasets.value.datasets ?? [])
          : this._state.datasets,
      apps: apps.status === 'fulfilled' ? (apps.value.apps ?? []) : this._state.apps,
      catalogProblems:
        apps.status === 'fulfilled' ? (apps.value.problems ?? []) : [],
      catalogError: failure ? this._sentence(failure.reason) : null
    });
  }

  // -- the recipe being written --------------------------------------------

  /**
   * Change some fields of the recipe; it is checked after `checkDelay`.
   *
   * A failed build of another recipe than the fields now hold is stale: its
   * error and marked line go (the history keeps it).
   */
  updateDraft(change: Partial<IDraft>): void {
    const draft = { ...this._state.draft, ...change };
    const build = this._state.build;
    const stale =
      build !== null &&
      !build.ready &&
      !build.submitting &&
      (!build.record || finished(build.record)) &&
      !sameRecipe(build.recipe, draftToRecipe(draft));
    this._update(stale ? { draft, build: null } : { draft });
    this._scheduleCheck();
  }

  /** Tick or untick an app. */
  toggleApp(id: string, chosen: boolean): void {
    const apps = this._state.draft.apps.filter(a => a !== id);
    this.updateDraft({ apps: chosen ? [...apps, id] : apps });
  }

  /** Show a recipe in the panel's fields (from an environment, a notebook, a reload). */
  loadRecipe(recipe: Partial<IRecipe>, dataset?: string | null): void {
    this.updateDraft(recipeToDraft(recipe, dataset));
  }

  /**
   * Ask the server for the Dockerfile the recipe would build: its policy
   * errors become problems placed next to their field, before Build is pressed.
   * Never rejects; a reply that a newer check overtook is dropped.
   */
  async check(): Promise<void> {
    window.clearTimeout(this._checkTimer);
    const ticket = ++this._checkTicket;
    const draft = this._state.draft;
    this._update({ check: { ...this._state.check, checking: true } });
    let check: StarDockModel.ICheck;
    try {
      const preview = await requestAPI<IDockerfileReply>(
        'dockerfile',
        { method: 'POST', body: JSON.stringify(draftToRecipe(draft)) },
        this._serverSettings
      );
      check = { checking: false, preview, problems: [], error: null };
    } catch (error) {
      const problem = this._problem(error, draft);
      check = problem
        ? { checking: false, preview: null, problems: [problem], error: null }
        : {
            checking: false,
            preview: null,
            problems: [],
            error: this._sentence(error)
          };
    }
    if (ticket === this._checkTicket) {
      this._update({ check });
    }
  }

  // -- building ------------------------------------------------------------

  /**
   * Build a recipe (the panel's own by default) and follow its log.
   *
   * Resolves with the environment once it can be opened, or `null` when the
   * build failed or was cancelled (the state says why). An environment that
   * exists already resolves at once. While a build runs, calls share it.
   */
  build(recipe?: IRecipe): Promise<StarDockModel.IReady | null> {
    if (this._building) {
      return this._building;
    }
    const draft = this._state.draft;
    const wanted = recipe ?? draftToRecipe(draft);
    this._building = this._build(wanted, recipe ? null : draft).finally(() => {
      this._building = null;
    });
    return this._building;
  }

  /** Cancel the running build; the log's end event then says it was cancelled. */
  async cancelBuild(): Promise<void> {
    const record = this._state.build?.record;
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
      this._updateBuild({ error: this._sentence(error) });
    }
  }

  /**
   * Show a build of the history in the Build section: follow it if it runs,
   * else replay its log and its result. Ignored while the panel's own build runs.
   */
  showBuild(record: IBuild): Promise<StarDockModel.IReady | null> {
    if (this._building) {
      return this._building;
    }
    this._abort?.abort();
    this._update({
      build: {
        recipe: record.recipe,
        record,
        ready: null,
        log: [],
        dropped: 0,
        error: null,
        submitting: false,
        replay: finished(record)
      }
    });
    this._building = this._watch(record.recipe, record, !finished(record)).finally(() => {
      this._building = null;
    });
    return this._building;
  }

  /** Follow this user's newest unfinished build, if any (after a page reload). */
  async resumeBuild(): Promise<void> {
    if (this._building || this._state.build) {
      return;
    }
    let builds: IBuild[];
    try {
      builds = (await this._get<{ builds: IBuild[] }>('builds')).builds ?? [];
    } catch {
      return; // the status banner says what is wrong
    }
    const running = builds.find(b => !finished(b));
    if (!running || this._building || this._state.build) {
      return;
    }
    this._building = this._watch(running.recipe, running).finally(() => {
      this._building = null;
    });
  }

  // -- environments, kernels, archives -------------------------------------

  /** Read the builds, environments, running kernels and archives. Never rejects. */
  refreshLists(): Promise<void> {
    if (!this._listsPending) {
      this._listsPending = this._fetchLists().finally(() => {
        this._listsPending = null;
      });
    }
    return this._listsPending;
  }

  /**
   * Remove an environment's image.
   *
   * @throws {ResponseError} for instance a 409 whose sentence says a kernel uses it.
   */
  async deleteEnvironment(id: string): Promise<void> {
    await requestAPI<null>(
      `environments/${id}`,
      { method: 'DELETE' },
      this._serverSettings
    );
    await this.refreshLists();
  }

  /** Whether an environment is built here: `null` when the server cannot tell. */
  async environmentExists(id: string): Promise<boolean | null> {
    try {
      await this._get<IEnvironment>(`environments/${id}`);
      return true;
    } catch (error) {
      return error instanceof ResponseError && error.status === 404 ? false : null;
    }
  }

  /** Stop a StarDock kernel, then wait (briefly) for its archive to be listed. */
  async stopKernel(id: string): Promise<void> {
    this._update({ stopping: [...this._state.stopping, id] });
    try {
      await this._shutdownKernel(id);
    } finally {
      this._update({ stopping: this._state.stopping.filter(k => k !== id) });
    }
    for (let attempt = 0; attempt < 20 && !this._isDisposed; attempt++) {
      await this.refreshLists();
      if (this._state.archives?.some(a => a.id === id)) {
        return;
      }
      await sleep(1000);
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll?.dispose();
    this._poll = null;
    window.clearTimeout(this._checkTimer);
    window.clearTimeout(this._flushTimer);
    this._abort?.abort();
    Signal.clearData(this);
  }

  // -- private: status -----------------------------------------------------

  private async _fetchStatus(): Promise<void> {
    let next: Pick<StarDockModel.IState, 'phase' | 'status' | 'message'>;
    try {
      const reply = await this._get<unknown>('status');
      const status = parseStatusReply(reply);
      next = status
        ? { phase: 'ready', status, message: null }
        : { phase: 'error', status: null, message: this._unexpectedReply() };
    } catch (error) {
      next = { ...this._describeFailure(error), status: knownVersion(error) };
    }
    this._update({ ...next, refreshing: false, updated: new Date() });
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
      }
    }
    return { phase: 'error', message: this._sentence(error) };
  }

  /** The sentence a failed request should show the user. */
  private _sentence(error: unknown): string {
    const trans = this._trans;
    if (error instanceof ResponseError) {
      return (
        error.serverMessage ??
        trans.__(
          'The StarDock server extension answered with HTTP %1. The Jupyter server log has the details.',
          error.status
        )
      );
    }
    if (error instanceof ServerConnection.NetworkError) {
      return trans.__(
        'The Jupyter server cannot be reached. Check that it is still running, then refresh this panel.'
      );
    }
    // A bug of ours rather than a server reply: keep it visible in the console.
    console.error('jupyter-stardock: request failed', error);
    return trans.__('The StarDock panel could not read the server reply: %1', String(error));
  }

  private _unexpectedReply(): string {
    return this._trans.__(
      'The StarDock server extension sent a status reply this panel does not understand. Install the same jupyter-stardock version for both, then restart JupyterLab.'
    );
  }

  // -- private: recipe check -----------------------------------------------

  private _scheduleCheck(): void {
    window.clearTimeout(this._checkTimer);
    // A check in flight is now stale: say so at once, so Build waits for the new one.
    this._checkTicket++;
    this._update({ check: { ...this._state.check, checking: true } });
    this._checkTimer = window.setTimeout(() => void this.check(), this.checkDelay);
  }

  /** A 400 about the recipe, placed next to its field; `null` for any other failure. */
  private _problem(error: unknown, draft: IDraft): IRecipeProblem | null {
    if (!(error instanceof ResponseError) || error.status !== 400 || !error.serverMessage) {
      return null;
    }
    const item = typeof error.reply?.item === 'string' ? error.reply.item : null;
    return locateProblem(error.serverMessage, item, commandLines(draft.commands).lines);
  }

  // -- private: builds -----------------------------------------------------

  private async _build(
    recipe: IRecipe,
    draft: IDraft | null
  ): Promise<StarDockModel.IReady | null> {
    this._abort?.abort();
    this._update({
      build: {
        recipe,
        record: null,
        ready: null,
        log: [],
        dropped: 0,
        error: null,
        submitting: true
      }
    });
    let reply: IBuildReply;
    try {
      reply = await this._submit(recipe);
    } catch (error) {
      const problem = draft ? this._problem(error, draft) : null;
      if (problem) {
        this._update({ check: { ...this._state.check, problems: [problem] } });
      }
      this._updateBuild({ submitting: false, error: this._sentence(error) });
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
  ): Promise<StarDockModel.IReady | null> {
    if (!this._state.build || this._state.build.record?.id !== record.id) {
      this._update({
        build: {
          recipe,
          record,
          ready: null,
          log: [],
          dropped: 0,
          error: null,
          submitting: false
        }
      });
    }
    const end = await this._followLog(record.id);
    if (!end) {
      return null;
    }
    this._updateBuild({ record: end });
    void this.refreshLists();
    if (end.state === 'succeeded' && !prepare) {
      return null;
    }
    if (end.state === 'succeeded') {
      // Asking again returns the environment with the kernelspec for this
      // recipe's dataset (an identical build may have been started for another).
      try {
        const reply = await this._submit(recipe);
        if (reply.environment) {
          return this._ready(recipe, reply.environment);
        }
      } catch (error) {
        this._updateBuild({ error: this._sentence(error) });
        return null;
      }
      this._updateBuild({
        error: this._trans.__(
          'The build finished, but its image is gone. Press Build to build it again.'
        )
      });
      return null;
    }
    this._updateBuild({
      error:
        end.state === 'cancelled'
          ? this._trans.__('The build was cancelled.')
          : (end.error ?? this._trans.__('The build failed; the log says why.'))
    });
    return null;
  }

  /**
   * Read the log as Server-Sent Events, resuming after the last line seen when
   * the connection drops. Resolves with the finished build, or `null`.
   */
  private async _followLog(id: string): Promise<IBuild | null> {
    const controller = new AbortController();
    this._abort = controller;
    let offset = 0;
    let end: IBuild | null = null;
    let failures = 0;
    let progressEvents = false;
    const onEvent = (event: IServerEvent): void => {
      if (event.event === 'end') {
        end = parseBuild(event.data);
        return;
      }
      if (event.event === 'progress') {
        // The server sends the build along with lines that start a step.
        progressEvents = true;
        const record = parseBuild(event.data);
        if (record && this._state.build?.record?.id === id && !finished(record)) {
          this._updateBuild({ record });
        }
        return;
      }
      this._queueLine(event.data);
      if (event.id !== null && /^\d+$/.test(event.id)) {
        offset = Number(event.id) + 1;
      }
      if (!progressEvents && /^Step \d+\/\d+/.test(event.data)) {
        this._scheduleProgress(id); // an older server: ask for the build instead
      }
    };
    while (!end && !controller.signal.aborted) {
      try {
        await requestEvents(
          `builds/${id}/log?offset=${offset}`,
          onEvent,
          { signal: controller.signal },
          this._serverSettings
        );
        failures = 0;
      } catch (error) {
        if (controller.signal.aborted) {
          break;
        }
        if ((error instanceof ResponseError && error.status === 404) || ++failures > 5) {
          this._flushLines();
          this._updateBuild({ error: this._sentence(error) });
          return null;
        }
        await sleep(1000 * failures);
      }
      if (!end && !controller.signal.aborted) {
        await sleep(200); // the stream closed early (a proxy timeout): resume
      }
    }
    this._flushLines();
    return end;
  }

  /** Log lines arrive fast; the panel redraws at most ten times a second. */
  private _queueLine(line: string): void {
    this._lines.push(line);
    if (!this._flushTimer) {
      this._flushTimer = window.setTimeout(() => this._flushLines(), 100);
    }
  }

  private _flushLines(): void {
    window.clearTimeout(this._flushTimer);
    this._flushTimer = 0;
    const build = this._state.build;
    if (!build || !this._lines.length) {
      this._lines = [];
      return;
    }
    const log = build.log.concat(this._lines);
    this._lines = [];
    const excess = Math.max(0, log.length - this.maxLogLines);
    this._updateBuild({
      log: excess ? log.slice(excess) : log,
      dropped: build.dropped + excess
    });
  }

  /** "Step N/M" lines move the bar: ask the server for the build's step fraction. */
  private _scheduleProgress(id: string): void {
    if (this._progressPending) {
      return;
    }
    this._progressPending = true;
    window.setTimeout(async () => {
      try {
        const record = await this._get<IBuild>(`builds/${id}`);
        if (this._state.build?.record?.id === id && !finished(this._state.build.record)) {
          this._updateBuild({ record });
        }
      } catch {
        // The end event brings the final state anyway.
      } finally {
        this._progressPending = false;
      }
    }, 250);
  }

  private _ready(recipe: IRecipe, environment: IEnvironment): StarDockModel.IReady {
    const ready: StarDockModel.IReady = {
      recipe,
      environment: environment.id,
      contentHash: environment.content_hash,
      imageId: environment.image_id ?? null,
      kernelspec: environment.kernelspec ?? kernelspecName(environment.id, recipe.dataset)
    };
    this._updateBuild({ ready });
    this._environmentReady.emit(ready);
    void this.refreshLists();
    return ready;
  }

  private _updateBuild(change: Partial<StarDockModel.IBuildView>): void {
    if (this._state.build) {
      this._update({ build: { ...this._state.build, ...change } });
    }
  }

  // -- private: lists ------------------------------------------------------

  private async _fetchLists(): Promise<void> {
    const [environments, kernels, archives, builds] = await Promise.allSettled([
      this._get<{ environments: IEnvironment[] }>('environments'),
      this._get<{ kernels: IKernelInfo[] }>('kernels'),
      this._get<{ archives: IArchive[] }>('archives'),
      // Every build of this user, whatever started it (the CLI, the magics, another tab).
      this._get<{ builds: IBuild[] }>('builds')
    ]);
    const failure = [environments, kernels, archives, builds].find(
      r => r.status === 'rejected'
    ) as PromiseRejectedResult | undefined;
    this._update({
      builds: builds.status === 'fulfilled' ? (builds.value.builds ?? []) : this._state.builds,
      environments:
        environments.status === 'fulfilled'
          ? (environments.value.environments ?? [])
          : this._state.environments,
      kernels:
        kernels.status === 'fulfilled' ? (kernels.value.kernels ?? []) : this._state.kernels,
      archives:
        archives.status === 'fulfilled'
          ? (archives.value.archives ?? [])
          : this._state.archives,
      listsError: failure ? this._sentence(failure.reason) : null
    });
  }

  // -- private: plumbing ---------------------------------------------------

  private _get<T>(endPoint: string): Promise<T> {
    return requestAPI<T>(endPoint, { method: 'GET' }, this._serverSettings);
  }

  private _update(change: Partial<StarDockModel.IState>): void {
    if (this._isDisposed) {
      return;
    }
    this._state = { ...this._state, ...change };
    this._stateChanged.emit(this._state);
  }

  private _trans: TranslationBundle;
  private _serverSettings: ServerConnection.ISettings;
  private _shutdownKernel: (id: string) => Promise<void>;
  private _refreshInterval = 0;
  private _poll: Poll | null = null;
  private _pending: Promise<void> | null = null;
  private _listsPending: Promise<void> | null = null;
  private _building: Promise<StarDockModel.IReady | null> | null = null;
  private _abort: AbortController | null = null;
  private _checkTimer = 0;
  private _checkTicket = 0;
  private _lines: string[] = [];
  private _flushTimer = 0;
  private _progressPending = false;
  private _isDisposed = false;
  private _state: StarDockModel.IState = StarDockModel.emptyState();
  private _stateChanged = new Signal<this, StarDockModel.IState>(this);
  private _environmentReady = new Signal<this, StarDockModel.IReady>(this);
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

  /** The server's verdict on the recipe as it stands in the panel. */
  export interface ICheck {
    /** Whether a check is due or in flight (the fields changed since the last one). */
    readonly checking: boolean;
    /** What the recipe would build, when it is valid. */
    readonly preview: IDockerfileReply | null;
    /** Policy errors, each placed next to its field. */
    readonly problems: readonly IRecipeProblem[];
    /** Why the recipe could not be checked at all (the engine is down, ...). */
    readonly error: string | null;
  }

  /** An environment that can be opened: its kernelspec exists. */
  export interface IReady {
    readonly recipe: IRecipe;
    readonly environment: string;
    readonly contentHash: string;
    readonly imageId: string | null;
    /** The kernelspec of this environment with the recipe's dataset. */
    readonly kernelspec: string;
  }

  /** The last build the panel started or followed. */
  export interface IBuildView {
    readonly recipe: IRecipe;
    /** The build job; `null` while submitting or when the environment existed. */
    readonly record: IBuild | null;
    /** Set once the environment can be opened. */
    readonly ready: IReady | null;
    /** The newest log lines. */
    readonly log: readonly string[];
    /** How many older lines were dropped to keep `maxLogLines`. */
    readonly dropped: number;
    /** Why it failed or could not start, for the user. */
    readonly error: string | null;
    /** Whether the build request is in flight. */
    readonly submitting: boolean;
    /** A finished build of the history, shown again: nothing more is prepared. */
    readonly replay?: boolean;
  }

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

    /** Datasets this user may mount; `null` until read. */
    readonly datasets: readonly IDataset[] | null;
    /** The app catalog; `null` until read. */
    readonly apps: readonly IApp[] | null;
    /** Catalog entries the server left out, and why (for administrators). */
    readonly catalogProblems: readonly string[];
    /** Why the catalog or datasets could not be read. */
    readonly catalogError: string | null;

    /** The recipe as the panel's fields hold it. */
    readonly draft: IDraft;
    readonly check: ICheck;
    readonly build: IBuildView | null;

    /** This user's builds, newest first, whatever started them; `null` until read. */
    readonly builds: readonly IBuild[] | null;
    readonly environments: readonly IEnvironment[] | null;
    readonly kernels: readonly IKernelInfo[] | null;
    readonly archives: readonly IArchive[] | null;
    /** Why one of those lists could not be read. */
    readonly listsError: string | null;
    /** Kernels being stopped. */
    readonly stopping: readonly string[];
  }

  /** What the panel shows before the server answered anything. */
  export function emptyState(): IState {
    return {
      phase: 'loading',
      status: null,
      message: null,
      refreshing: false,
      updated: null,
      datasets: null,
      apps: null,
      catalogProblems: [],
      catalogError: null,
      draft: EMPTY_DRAFT,
      check: { checking: false, preview: null, problems: [], error: null },
      build: null,
      builds: null,
      environments: null,
      kernels: null,
      archives: null,
      listsError: null,
      stopping: []
    };
  }

  export interface IOptions {
    /** Translates the sentences the model writes. */
    translator?: ITranslator;
    /** Seconds between two automatic refreshes; 0 turns them off. */
    refreshInterval?: number;
    /** How many build log lines to keep. */
    maxLogLines?: number;
    /** Milliseconds between the last change of the recipe and its check. */
    checkDelay?: number;
    /** Server connection settings; the page's own by default. */
    serverSettings?: ServerConnection.ISettings;
    /**
     * Stops a kernel; JupyterLab's kernel manager in the app, so that open
     * notebooks notice at once. `KernelAPI.shutdownKernel` by default.
     */
    shutdownKernel?: (id: string) => Promise<void>;
  }
}

/**
 * The kernelspec the server publishes for an environment and a dataset
 * (`jupyter_stardock.kernelspecs.kernelspec_name`); used only when a reply
 * does not name it.
 */
export function kernelspecName(environment: string, dataset?: string | null): string {
  const suffix = dataset ? '-' + dataset.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-') : '';
  return `stardock-${environment}${suffix}`;
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

/** The build in an `end` event, or `null` when it does not look like one. */
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

function finished(build: IBuild): boolean {
  return build.state !== 'queued' && build.state !== 'running';
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => window.setTimeout(resolve, ms));
}
