/**
 * What the StarDock panel shows: the shape of the model's state (plain data,
 * no side effects). `StarDockModel` re-exports these names in its namespace.
 */

import { ISuspendedKernel } from './pause';
import { EMPTY_DRAFT, IDraft, IRecipeProblem } from './recipe';
import {
  IApp,
  IArchive,
  IBuild,
  IDataset,
  IDockerfileReply,
  IEnvironment,
  IKernelInfo,
  ILock,
  IRecipe,
  IStatusReply
} from './tokens';

/**
 * Where the panel stands.
 *
 * - `loading`: no reply yet.
 * - `ready`: the server answered with a status.
 * - `engine-down`: the server extension runs but cannot reach the engine (503).
 * - `server-missing`: the server extension is not installed or enabled (404).
 * - `error`: anything else; `message` says what.
 */
export type Phase = 'loading' | 'ready' | 'engine-down' | 'server-missing' | 'error';

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
  /** Issue 17: its exact versions (written into notebooks beside the recipe). */
  readonly lock?: ILock | null;
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
  // issue 17: suspended kernels, and what the last pause/resume/suspend/restore said
  readonly suspended: readonly ISuspendedKernel[] | null;
  readonly kernelNotice: string | null;
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
    stopping: [],
    suspended: null,
    kernelNotice: null
  };
}

/** A build view that has just been asked for or picked: no log, no result yet. */
export function freshBuildView(
  recipe: IRecipe,
  record: IBuild | null,
  change: Partial<IBuildView> = {}
): IBuildView {
  return {
    recipe,
    record,
    ready: null,
    log: [],
    dropped: 0,
    error: null,
    submitting: false,
    ...change
  };
}

/** Whether a build has stopped running, however it ended. */
export function finished(build: IBuild): boolean {
  return build.state !== 'queued' && build.state !== 'running';
}
