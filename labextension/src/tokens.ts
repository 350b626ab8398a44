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

/** Command ids. */
export namespace CommandIDs {
  export const openPanel = 'stardock:open-panel';
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
}

/** Settings of the frontend plugin, as declared in `schema/plugin.json`. */
export interface IStarDockSettings {
  /** Seconds between two status requests; 0 turns automatic refresh off. */
  refreshInterval: number;
}

/** Default settings, used when the settings registry is not available. */
export const DEFAULT_SETTINGS: IStarDockSettings = {
  refreshInterval: 30
};
