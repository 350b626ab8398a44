/**
 * A terminal and a desktop inside a kernel's container (issue 15).
 *
 * The terminal is JupyterLab's own (`terminal:open` with the name the server
 * gives); the desktop is a main-area tab with noVNC talking RFB over the
 * server's websocket, which the server bridges to the X server in the container.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog, MainAreaWidget, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { imageIcon, terminalIcon } from '@jupyterlab/ui-components';
import RFB from '@novnc/novnc/lib/rfb';
import { Widget } from '@lumino/widgets';

import { StarDockModel } from './model';

export namespace DesktopCommandIDs {
  export const openTerminal = 'stardock:open-terminal';
  export const openDesktop = 'stardock:open-desktop';
}

/** A kernel's desktop: noVNC scaled to the tab. */
export class DesktopView extends Widget {
  constructor(url: string, trans: TranslationBundle) {
    super();
    this.addClass('jp-StarDock-desktop');
    this._url = url;
    this._trans = trans;
    this._status = document.createElement('p');
    this._status.className = 'jp-StarDock-desktopStatus';
    this._status.textContent = trans.__('Connecting to the kernel’s desktop…');
    this._screen = document.createElement('div');
    this._screen.className = 'jp-StarDock-desktopScreen';
    this.node.append(this._status, this._screen);
  }

  /** Connected: the first frame has been drawn once this is true. */
  get connected(): boolean {
    return this._connected;
  }

  protected onAfterAttach(): void {
    if (this._rfb) {
      return;
    }
    const rfb = new RFB(this._screen, this._url, { wsProtocols: ['binary'] });
    rfb.scaleViewport = true;
    rfb.background = 'var(--jp-layout-color2)';
    rfb.addEventListener('connect', () => {
      rfb.scaleViewport = true;
      this._connected = true;
      this._status.textContent = '';
      this.node.dataset.connected = 'true';
    });
    rfb.addEventListener('disconnect', () => {
      this._connected = false;
      this.node.dataset.connected = 'false';
      this._status.textContent = this._trans.__(
        'The desktop closed (the kernel stopped, or its X server ended).'
      );
      this._rfb = null;
    });
    this._rfb = rfb;
  }

  protected onResize(): void {
    // noVNC scales on the window's resize only; a tab's own resize needs telling.
    if (this._rfb) {
      this._rfb.scaleViewport = true;
    }
  }

  protected onAfterShow(): void {
    this.onResize();
  }

  protected onActivateRequest(): void {
    this._rfb?.focus();
  }

  dispose(): void {
    this._rfb?.disconnect();
    this._rfb = null;
    super.dispose();
  }

  private _url: string;
  private _trans: TranslationBundle;
  private _status: HTMLParagraphElement;
  private _screen: HTMLDivElement;
  private _rfb: RFB | null = null;
  private _connected = false;
}

export interface IDesktopCommandOptions {
  app: JupyterFrontEnd;
  model: StarDockModel;
  trans: TranslationBundle;
  notebooks: INotebookTracker | null;
}

/** Add the terminal and desktop commands; returns their ids (both belong in the palette). */
export function addDesktopCommands(options: IDesktopCommandOptions): string[] {
  const { app, model, trans, notebooks } = options;
  const desktops = new Map<string, MainAreaWidget<DesktopView>>();
  const report = (title: string) => (error: unknown) =>
    void showErrorMessage(title, error instanceof Error ? error.message : String(error));

  /** The kernel a command is for: given, the current notebook's, the only one, or asked. */
  const kernelFor = async (args: Record<string, unknown>): Promise<string | null> => {
    if (typeof args.kernel === 'string') {
      return args.kernel;
    }
    const running = (model.state.kernels ?? []).filter(k => k.state === 'running');
    const current = notebooks?.currentWidget?.sessionContext.session?.kernel?.id;
    if (current && running.some(k => k.id === current)) {
      return current;
    }
    if (running.length <= 1) {
      return running[0]?.id ?? null;
    }
    const choice = await InputDialog.getItem({
      title: trans.__('Which StarDock kernel?'),
      items: running.map(k => k.id)
    });
    return choice.button.accept ? choice.value : null;
  };

  app.commands.addCommand(DesktopCommandIDs.openTerminal, {
    label: trans.__('Open a Terminal in a StarDock Kernel'),
    caption: trans.__('A shell inside the kernel’s container, as the kernel’s user, in /outputs'),
    icon: args => (args.isPalette ? undefined : terminalIcon),
    execute: async args => {
      const kernel = await kernelFor(args);
      if (!kernel) {
        return;
      }
      try {
        const name = await model.openTerminal(kernel);
        await app.commands.execute('terminal:open', { name });
      } catch (error) {
        report(trans.__('Cannot open a terminal in the kernel'))(error);
      }
    }
  });

  app.commands.addCommand(DesktopCommandIDs.openDesktop, {
    label: trans.__('Open the Desktop of a StarDock Kernel'),
    caption: trans.__('X programs of the kernel (DS9, TOPCAT, Tk figures) in a tab'),
    icon: args => (args.isPalette ? undefined : imageIcon),
    execute: async args => {
      const kernel = await kernelFor(args);
      if (!kernel) {
        return;
      }
      const open = desktops.get(kernel);
      if (open && !open.isDisposed) {
        app.shell.activateById(open.id);
        return;
      }
      try {
        const url = await model.startDesktop(kernel);
        const widget = new MainAreaWidget({ content: new DesktopView(url, trans) });
        widget.id = `stardock-desktop-${kernel}`;
        widget.title.label = trans.__('Desktop · %1', kernel.slice(0, 8));
        widget.title.icon = imageIcon;
        widget.title.closable = true;
        widget.disposed.connect(() => desktops.delete(kernel));
        desktops.set(kernel, widget);
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
      } catch (error) {
        report(trans.__('Cannot open the kernel’s desktop'))(error);
      }
    }
  });

  return [DesktopCommandIDs.openTerminal, DesktopCommandIDs.openDesktop];
}
