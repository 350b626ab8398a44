/**
 * Names and payload shapes shared by the StarDock frontend.
 *
 * This module has no side effects: it only declares constants and types.
 */

/** The id of the frontend plugin; `schema/plugin.json` holds its settings. */
export const PLUGIN_ID = 'jupyter-stardock:plugin';

/** The translation domain of every user-visible string. */
export const TRANSLATION_DOMAIN = 'jupyter-stardock';

/** The DOM id of the sidebar panel, also its key in the layout restorer. */
export const PANEL_ID = 'jupyter-stardock-panel';

/** The REST namespace of the server extension: `<baseUrl>/stardock/api/...`. */
export const API_NAMESPACE = ['stardock', 'api'] as const;

/**
 * The version of this frontend. The server extension's status reply carries
 * its own; the panel warns when they differ (a jest test keeps this equal to
 * `package.json`).
 */
export const FRONTEND_VERSION = '0.1.0';

/** The notebook metadata key under which a notebook records its recipe. */
export const METADATA_KEY = 'stardock';

/** Command ids. */
export namespace CommandIDs {
  export const openPanel = 'stardock:open-panel';
  export const refresh = 'stardock:refresh';
  export const build = 'stardock:build';
  export const cancelBuild = 'stardock:cancel-build';
  export const openNotebook = 'stardock:open-notebook';
  export const openConsole = 'stardock:open-console';
  export const editRecipe = 'stardock:edit-recipe';
  export const deleteEnvironment = 'stardock:delete-environment';
  export const stopKernel = 'stardock:stop-kernel';
  export const showOutputs = 'stardock:show-outputs';
  /** Issue 17: rebuild an archive's environment with every recorded version pinned. */
  export const rebuildArchive = 'stardock:rebuild-archive';
}

/** JupyterLab's own commands the panel drives. */
export namespace LabCommandIDs {
  export const createNotebook = 'notebook:create-new';
  export const createConsole = 'console:create';
  export const goToPath = 'filebrowser:go-to-path';
}

/** The Docker (or Podman) engine the server talks to. */
export interface IEngineInfo {
  /** Where the engine listens, e.g. `"unix:///var/run/docker.sock"`. */
  address?: string;
  /** Engine version, e.g. `"27.3.1"`. */
  version: string;
  /** Engine API version, e.g. `"1.47"`. */
  api_version?: string;
  /** Storage driver, e.g. `"overlay2"`. */
  storage_driver?: string;
  /** Operating system of the engine host, e.g. `"Debian GNU/Linux 12 (bookworm)"`. */
  os?: string;
  kernel_version?: string;
  /** CPU architecture of the engine host, e.g. `"x86_64"`. */
  architecture?: string;
  cpus?: number;
  memory_bytes?: number;
  /** issue 18: the engine's runtimes, and whether one of them provides GPUs. */
  runtimes?: string[];
  gpu_runtime?: boolean;
}

/** The base image every environment is built on. */
export interface IBaseImageInfo {
  /** The name environments are built `FROM`, e.g. `"stardock/base:latest"`. */
  name: string;
  /** Whether the engine has the image. */
  exists: boolean;
  /** Image id (`sha256:...`) when it exists. */
  id?: string;
  tags?: string[];
  /** Creation time (ISO 8601) when it exists. */
  created?: string;
  /** Size in bytes when it exists. */
  size?: number;
  /** The image it was built from. */
  from?: string;
  content_hash?: string;
  /** When it does not exist: a sentence saying how to make it. */
  hint?: string;
}

/** The reply to `GET /stardock/api/status`. */
export interface IStatusReply {
  /** Version of the `jupyter_stardock` server extension. */
  version: string;
  /** The engine, or `null` when it cannot be reached. */
  engine: IEngineInfo | null;
  /** The base image, or `null` when it is not known. */
  base_image: IBaseImageInfo | null;
  /** Issue 14: the warm pool of pre-started kernels; `null` when it is off. */
  pool?: IPoolStatus | null;
}

/** Issue 14: the `pool` member of the status reply. */
export interface IPoolStatus {
  /** Pre-started kernels ready to be claimed. */
  ready: number;
  /** Most at once (pool_max_total and the memory budget). */
  capacity: number;
  /** Their estimated memory, and the budget, in bytes. */
  memory_bytes: number;
  memory_budget_bytes: number;
}

/** A dataset the user may mount, as `GET datasets` describes it. */
export interface IDataset {
  id: string;
  title: string;
  description: string;
  /** Regular files below the dataset folder. */
  files: number;
  bytes: number;
  /** Whether the folder exists on the server. */
  exists: boolean;
  /** Why the dataset cannot be used now, or `null`. */
  problem: string | null;
}

/** One app of the catalog, as `GET apps` lists it. */
export interface IApp {
  id: string;
  title: string;
  description: string;
  /** The group it is shown in, e.g. `"Image reduction"`. */
  category: string;
  /** Apps installed with it (PyRAF requires IRAF). */
  requires: string[];
  /** Apps it cannot share an image with. */
  conflicts: string[];
  order: number;
  /** The Debian packages it installs. */
  apt: string[];
}

/** What a user asks for: the image part plus the dataset to mount beside it. */
export interface IRecipe {
  dataset?: string | null;
  apps: string[];
  /** Shell commands, each run as its own `RUN` step, in order. */
  commands: string[];
  apt_packages: string[];
  pip_packages: string[];
  /** issue 18: kernels of this environment get the operator's GPUs. */
  gpus?: boolean;
  /** Issue 17: exact versions to install, as a rebuild from a lock asks. */
  pins?: { apt: Record<string, string>; pip: Record<string, string> };
}

/** Issue 17: what an environment image holds exactly (docs/reproduce.md). */
export interface ILock {
  format: 'jupyter-stardock lock 1';
  image_id: string;
  base_image: string;
  debian: Record<string, string>;
  python: Record<string, string>;
  r: Record<string, string>;
}

/** The reply to `POST dockerfile`: what a recipe would build. */
export interface IDockerfileReply {
  dockerfile: string;
  content_hash: string;
  environment_id: string;
  tag: string;
  /** Every app the image gets, dependencies included, in install order. */
  apps: string[];
  /** Apps the server added: id -> ids of the chosen apps that need it. */
  added_dependencies: Record<string, string[]>;
  /** Whether the image is built already (Build will not rebuild it). */
  exists: boolean;
}

export type BuildState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** A build job, as `POST builds`, `GET builds/{id}` and the log's `end` event send it. */
export interface IBuild {
  id: string;
  owner?: string;
  recipe: IRecipe;
  content_hash: string;
  environment_id: string;
  tag: string;
  state: BuildState;
  /** The fraction of Dockerfile steps done, 0 to 1. */
  progress: number;
  step: number;
  steps: number;
  /** Seconds since the epoch (server clock). */
  created: number;
  started: number | null;
  finished: number | null;
  image_id: string | null;
  /** Why it failed, written for the user (for a failed step: several lines, its output quoted). */
  error: string | null;
  /** Where a failed build failed; absent or `null` when no step is to blame. */
  failure?: IBuildFailure | null;
  /**
   * Whether this user follows a build someone else started for an identical
   * recipe: they see its progress and log, but only its owner can cancel it.
   */
  following?: boolean;
  /**
   * `null` until the build succeeded; then the environment it made, with the
   * kernelspec published for the build's recipe and dataset (so that nobody
   * asks again to learn its name).
   */
  environment: IPublishedEnvironment | null;
}

/** The step a failed build failed at, as the server maps it back to the recipe. */
export interface IBuildFailure {
  /**
   * The part of the recipe, as error replies name it: `"command 2"` (the
   * second custom command sent), `"app astropy"`, `"pip packages"`,
   * `"Debian packages"`, or `null` for a step of StarDock's own.
   */
  item: string | null;
  /** The Dockerfile step ("Step 5/13"). */
  step: number;
  steps: number;
  exit_code: number | null;
  /** One sentence: which part failed and how. */
  summary: string;
  /** The step's last lines of output, without terminal escape codes. */
  output: string[];
  /** What the user can do. */
  hint: string;
}

/** A built environment (an image). */
export interface IEnvironment {
  id: string;
  content_hash: string;
  image_id: string;
  tags: string[];
  /** The image part of the recipe (no dataset). */
  recipe: Partial<IRecipe>;
  /** Every app in the image, dependencies included. */
  apps: string[];
  /** Bytes. */
  size: number;
  /** ISO 8601. */
  created: string;
  /** Issue 17: its exact versions, where the server took them. */
  lock?: ILock | null;
  /** Issue 17: the last kernel start or build request it answered (epoch seconds). */
  last_used?: number | null;
}

/** An environment with the kernelspec the server published for a recipe's dataset. */
export interface IPublishedEnvironment extends IEnvironment {
  kernelspec: string;
}

/** The reply to `POST builds`: a build started (202) or the environment (200). */
export interface IBuildReply {
  build: IBuild | null;
  environment: IPublishedEnvironment | null;
}

/** A running StarDock kernel (its container). */
export interface IKernelInfo {
  /** The Jupyter kernel id. */
  id: string;
  /** Its kernelspec name, `stardock-<environment>[-<dataset>]`. */
  name: string;
  environment: string;
  dataset: string | null;
  /** The outputs folder relative to the server root, or `null` when outside it. */
  outputs: string | null;
  /** Seconds since the epoch. */
  started: number;
  /** The container's state, e.g. `"running"`. */
  state: string;
  container: string;
}

/** What an archive's `manifest.json` says about the run that made it. */
export interface IArchiveManifest {
  kernel_id?: string;
  kernel_name?: string;
  environment?: string;
  recipe?: Partial<IRecipe>;
  dataset?: { id: string; title: string } | null;
  started?: number;
  stopped?: number;
  note?: string;
  /** Issue 17: the environment's exact versions (archives made since locks exist). */
  lock?: ILock | null;
}

/** The archived outputs of a stopped kernel. */
export interface IArchive {
  /** The kernel id. */
  id: string;
  /** Bytes of the tar.gz. */
  size: number;
  manifest: IArchiveManifest;
}

/**
 * What a notebook opened from StarDock records under `metadata.stardock`, so
 * that it can be rebuilt exactly where its environment is missing.
 */
export interface INotebookRecipe {
  /** The environment id (the first 16 hex digits of the content hash). */
  environment: string;
  content_hash: string;
  /** The image id (`sha256:...`) the kernel ran in. */
  image_id: string | null;
  /** The dataset id, or `null` for none. */
  dataset: string | null;
  recipe: IRecipe;
  kernelspec: string;
  /** Issue 17: the environment's exact versions, beside its recipe. */
  lock?: ILock | null;
}

/** Settings of the frontend plugin, as declared in `schema/plugin.json`. */
export interface IStarDockSettings {
  /** Seconds between two status requests; 0 turns automatic refresh off. */
  refreshInterval: number;
  /** How many build log lines the panel keeps; older ones are dropped. */
  maxLogLines: number;
  /** Milliseconds between the last keystroke and the recipe check. */
  checkDelay: number;
}

/** Default settings, used when the settings registry is not available. */
export const DEFAULT_SETTINGS: IStarDockSettings = {
  refreshInterval: 30,
  maxLogLines: 5000,
  checkDelay: 400
};
