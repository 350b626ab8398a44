/**
 * The state of the StarDock panel: what it shows, refreshed from the server.
 *
 * The model and the builds it drives (`builds.ts`, `buildLog.ts`) are the only
 * callers of `request.ts`; the sentences it shows come from `messages.ts`.
 */

import { KernelAPI, ServerConnection } from '@jupyterlab/services';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { sleep } from './buildLog';
import { Builds } from './builds';
import { Get, readCatalog, readLists } from './lists';
import { Messages, recipeProblem } from './messages';
import { actionSentence, IKernelActionReply, ISuspendedKernel, KernelAction } from './pause';
import { draftToRecipe, IDraft, recipeToDraft, sameRecipe } from './recipe';
import { requestAPI, ResponseError } from './request';
import { Stager } from './staging';
import * as state from './state';
import { knownVersion, parseStatusReply } from './status';
import {
  DEFAULT_SETTINGS,
  IBuild,
  IDockerfileReply,
  IEnvironment,
  IRecipe,
  TRANSLATION_DOMAIN
} from './tokens';

/**
 * Owns what the panel shows: the server's status, the catalog, the recipe
 * being written and its check, the build, and the environments, kernels and
 * archives; and, when something is wrong, the sentence the user should read.
 */
export class StarDockModel implements IDisposable {
  constructor(options: StarDockModel.IOptions = {}) {
    const trans = (options.translator ?? nullTranslator).load(TRANSLATION_DOMAIN);
    this._messages = new Messages(trans);
    this._trans = trans;
    this._serverSettings = options.serverSettings ?? ServerConnection.makeSettings();
    this._shutdownKernel =
      options.shutdownKernel ?? (id => KernelAPI.shutdownKernel(id, this._serverSettings));
    this.maxLogLines = options.maxLogLines ?? DEFAULT_SETTINGS.maxLogLines;
    this.checkDelay = options.checkDelay ?? DEFAULT_SETTINGS.checkDelay;
    this.refreshInterval = options.refreshInterval ?? DEFAULT_SETTINGS.refreshInterval;
    this._builds = new Builds(
      {
        state: () => this._state,
        update: change => this._update(change),
        maxLogLines: () => this.maxLogLines,
        refreshLists: () => this.refreshLists(),
        ready: ready => this._environmentReady.emit(ready)
      },
      this._messages,
      this._serverSettings
    );
  }

  /** issue 19: stages datasets from archive files; a complete one refreshes the picker. */
  readonly stager = new Stager({
    request: (endPoint, init) => requestAPI(endPoint, init, this._serverSettings),
    sentence: error => this._messages.sentence(error),
    completed: () => void this.loadCatalog()
  });

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
      this.refreshSuspended(),
      this.resumeBuild()
    ]);
    void this.check();
  }

  // -- catalog and datasets ------------------------------------------------

  /** Read the datasets this user may mount and the app catalog. Never rejects. */
  async loadCatalog(): Promise<void> {
    this._update(await readCatalog(this._get, () => this._state, this._messages));
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
      (!build.record || state.finished(build.record)) &&
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
      const problem = recipeProblem(error, draft);
      check = {
        checking: false,
        preview: null,
        problems: problem ? [problem] : [],
        error: problem ? null : this._messages.sentence(error)
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
    const draft = this._state.draft;
    return this._builds.build(recipe ?? draftToRecipe(draft), recipe ? null : draft);
  }

  /** Cancel the running build; the log's end event then says it was cancelled. */
  cancelBuild(): Promise<void> {
    return this._builds.cancel();
  }

  /**
   * Show a build of the history in the Build section: follow it if it runs,
   * else replay its log and its result. Ignored while the panel's own build runs.
   */
  showBuild(record: IBuild): Promise<StarDockModel.IReady | null> {
    return this._builds.show(record);
  }

  /** Follow this user's newest unfinished build, if any (after a page reload). */
  resumeBuild(): Promise<void> {
    return this._builds.resume();
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
    await requestAPI<null>(`environments/${id}`, { method: 'DELETE' }, this._serverSettings);
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

  // -- issue 17: pause, resume, suspend, restore ---------------------------

  /** Do `action` on a kernel; what it did (or why not) goes to `kernelNotice`. Never rejects. */
  async kernelAction(id: string, action: KernelAction): Promise<void> {
    try {
      const reply = await requestAPI<IKernelActionReply>(
        `kernels/${encodeURIComponent(id)}/${action}`,
        { method: 'POST', body: '{}' },
        this._serverSettings
      );
      this._update({ kernelNotice: actionSentence(this._trans, action, reply) });
    } catch (error) {
      this._update({ kernelNotice: this._messages.sentence(error) });
    }
    await Promise.all([this.refreshLists(), this.refreshSuspended()]);
  }

  /** Read the suspended kernels; a failure keeps what the panel showed. Never rejects. */
  async refreshSuspended(): Promise<void> {
    try {
      const reply = await this._get<{ suspended: ISuspendedKernel[] }>('suspended');
      this._update({ suspended: reply.suspended });
    } catch {
      // An older server has no such list: the panel just shows none.
    }
  }

  // issue 15: a terminal and a desktop inside a kernel's container.
  /** Create a JupyterLab terminal whose shell runs in the kernel's container; its name. */
  async openTerminal(kernelId: string): Promise<string> {
    const id = encodeURIComponent(kernelId);
    const reply = await requestAPI<{ name: string }>(
      `kernels/${id}/terminal`,
      { method: 'POST' },
      this._serverSettings
    );
    return reply.name;
  }

  /** Start the kernel's desktop; the websocket URL noVNC connects to. */
  async startDesktop(kernelId: string): Promise<string> {
    const reply = await requestAPI<{ websocket: string }>(
      `kernels/${encodeURIComponent(kernelId)}/desktop`,
      { method: 'POST' },
      this._serverSettings
    );
    const settings = this._serverSettings;
    const url = `${settings.wsUrl.replace(/\/?$/, '/')}stardock/api/${reply.websocket}`;
    // As JupyterLab's own websockets: the token when the page has one, else the cookie.
    return settings.token ? `${url}?token=${encodeURIComponent(settings.token)}` : url;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll?.dispose();
    this._poll = null;
    window.clearTimeout(this._checkTimer);
    this._builds.dispose();
    this.stager.dispose(); // issue 19
    Signal.clearData(this);
  }

  // -- private -------------------------------------------------------------

  private async _fetchStatus(): Promise<void> {
    let next: Pick<StarDockModel.IState, 'phase' | 'status' | 'message'>;
    try {
      const status = parseStatusReply(await this._get<unknown>('status'));
      next = status
        ? { phase: 'ready', status, message: null }
        : { phase: 'error', status: null, message: this._messages.unexpectedStatus() };
    } catch (error) {
      next = { ...this._messages.statusFailure(error), status: knownVersion(error) };
    }
    this._update({ ...next, refreshing: false, updated: new Date() });
  }

  private _scheduleCheck(): void {
    window.clearTimeout(this._checkTimer);
    // A check in flight is now stale: say so at once, so Build waits for the new one.
    this._checkTicket++;
    this._update({ check: { ...this._state.check, checking: true } });
    this._checkTimer = window.setTimeout(() => void this.check(), this.checkDelay);
  }

  private async _fetchLists(): Promise<void> {
    this._update(await readLists(this._get, () => this._state, this._messages));
  }

  private _get: Get = endPoint =>
    requestAPI(endPoint, { method: 'GET' }, this._serverSettings);

  private _update(change: Partial<StarDockModel.IState>): void {
    if (this._isDisposed) {
      return;
    }
    this._state = { ...this._state, ...change };
    this._stateChanged.emit(this._state);
  }

  private _messages: Messages;
  private _trans: TranslationBundle; // issue 17
  private _builds: Builds;
  private _serverSettings: ServerConnection.ISettings;
  private _shutdownKernel: (id: string) => Promise<void>;
  private _refreshInterval = 0;
  private _poll: Poll | null = null;
  private _pending: Promise<void> | null = null;
  private _listsPending: Promise<void> | null = null;
  private _checkTimer = 0;
  private _checkTicket = 0;
  private _isDisposed = false;
  private _state: StarDockModel.IState = state.emptyState();
  private _stateChanged = new Signal<this, StarDockModel.IState>(this);
  private _environmentReady = new Signal<this, StarDockModel.IReady>(this);
}

/** The shapes of the state (defined in `state.ts`) under the model's name, as the views use them. */
export namespace StarDockModel {
  export type Phase = state.Phase;
  export type ICheck = state.ICheck;
  export type IReady = state.IReady;
  export type IBuildView = state.IBuildView;
  export type IState = state.IState;

  /** What the panel shows before the server answered anything. */
  export const emptyState = state.emptyState;

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
