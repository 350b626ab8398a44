/**
 * Why a StarDock kernel died, said in JupyterLab.
 *
 * When the kernel of a notebook or console on a StarDock kernelspec is
 * restarted by the server (it died: "autorestarting") or is dead, the server's
 * note of how its container ended is shown as a notification, e.g. "The kernel
 * was stopped: memory limit 4 GiB reached. ..." instead of only "The kernel
 * appears to have died".
 */

import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ISessionContext, Notification } from '@jupyterlab/apputils';
import { Kernel, ServerConnection } from '@jupyterlab/services';

import { requestAPI, ResponseError } from './request';

/** How a kernel's container last ended (`GET kernels/<id>/exit`). */
export interface IKernelExit {
  kernel_id: string;
  owner: string;
  /** oom, pids, removed, engine, signal, error or exit. */
  reason: string;
  /** The sentence for the user. */
  message: string;
  exit_code: number | null;
  /** When the server noticed, in seconds since the epoch. */
  at: number;
  container: string;
}

/** Kernel statuses that mean the kernel died without being asked to. */
const DIED: ReadonlySet<Kernel.Status> = new Set(['autorestarting', 'dead']);

/** The server's last exit of that kernel, or `null` when it has none. */
export async function fetchKernelExit(
  kernelId: string,
  settings?: ServerConnection.ISettings
): Promise<IKernelExit | null> {
  try {
    return await requestAPI<IKernelExit>(
      `kernels/${encodeURIComponent(kernelId)}/exit`,
      {},
      settings
    );
  } catch (reason) {
    if (reason instanceof ResponseError && reason.status === 404) {
      return null;
    }
    throw reason;
  }
}

/** Whether an exit is worth telling: not a kernel that stopped as asked. */
export function isUnexpected(exit: IKernelExit): boolean {
  return exit.reason !== 'exit' || (exit.exit_code ?? 0) !== 0;
}

/** One death of one container: told once. */
function keyOf(exit: IKernelExit): string {
  return `${exit.kernel_id}:${exit.container}:${exit.at}`;
}

/**
 * Watches the session contexts it is given; tells the user once per container
 * death why their StarDock kernel died.
 */
export class KernelExitWatcher {
  constructor(options: KernelExitWatcher.IOptions = {}) {
    this._fetch = options.fetchExit ?? (id => fetchKernelExit(id));
    this._notify =
      options.notify ??
      (message => {
        Notification.error(message, { autoClose: false });
      });
    this._retryDelay = options.retryDelay ?? 1000;
  }

  /** Follow one notebook's or console's kernel (again: no effect). */
  watch(context: ISessionContext): void {
    if (this._watched.has(context)) {
      return;
    }
    this._watched.add(context);
    // What the server noted before this page watched (an old death) is not news.
    const baseline = (): void => {
      const kernel = context.session?.kernel;
      if (kernel && kernel.name.startsWith('stardock-')) {
        void this._fetch(kernel.id)
          .then(exit => exit && this._told.add(keyOf(exit)))
          .catch(() => undefined);
      }
    };
    baseline();
    context.kernelChanged?.connect(baseline);
    context.statusChanged.connect((_, status) => {
      const kernel = context.session?.kernel;
      if (kernel && DIED.has(status) && kernel.name.startsWith('stardock-')) {
        void this.check(kernel.id);
      }
    });
  }

  /**
   * Ask the server how the kernel's container ended and tell the user.
   *
   * The server notes it when it finds the container stopped, which is what
   * starts the restart; a few retries cover a note that is still on its way.
   */
  async check(kernelId: string, attempts = 3): Promise<IKernelExit | null> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      let exit: IKernelExit | null = null;
      try {
        exit = await this._fetch(kernelId);
      } catch (reason) {
        console.warn('jupyter-stardock: could not ask why the kernel stopped.', reason);
        return null;
      }
      if (exit) {
        const key = keyOf(exit);
        if (isUnexpected(exit) && !this._told.has(key)) {
          this._told.add(key);
          // The server's sentence, as it wrote it for the user.
          this._notify(exit.message, exit);
        }
        return exit;
      }
      await new Promise(resolve => setTimeout(resolve, this._retryDelay));
    }
    return null;
  }

  private _fetch: (kernelId: string) => Promise<IKernelExit | null>;
  private _notify: (message: string, exit: IKernelExit) => void;
  private _retryDelay: number;
  private _watched = new WeakSet<ISessionContext>();
  private _told = new Set<string>();
}

export namespace KernelExitWatcher {
  export interface IOptions {
    /** How the exit is fetched; the server's API by default. */
    fetchExit?: (kernelId: string) => Promise<IKernelExit | null>;
    /** How the user is told; a JupyterLab notification that stays by default. */
    notify?: (message: string, exit: IKernelExit) => void;
    /** Milliseconds between asks while the server has no note yet. */
    retryDelay?: number;
  }
}

/** The session context of a main-area widget (notebook panel, console panel), if any. */
function sessionContextOf(widget: unknown): ISessionContext | null {
  const context = (widget as { sessionContext?: ISessionContext } | null)?.sessionContext;
  return context && typeof context.statusChanged?.connect === 'function' ? context : null;
}

/** Tells the user why a StarDock kernel of any open notebook or console died. */
export const kernelExitsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-stardock:kernel-exits',
  description: 'Says why a StarDock kernel died (memory limit, process limit, removed container).',
  autoStart: true,
  optional: [ILabShell],
  activate: (app: JupyterFrontEnd, labShell: ILabShell | null): void => {
    const watcher = new KernelExitWatcher();
    const scan = (): void => {
      for (const widget of app.shell.widgets('main')) {
        const context = sessionContextOf(widget);
        if (context) {
          watcher.watch(context);
        }
      }
    };
    void app.restored.then(scan);
    labShell?.layoutModified.connect(scan);
    labShell?.currentChanged.connect(scan);
  }
};
