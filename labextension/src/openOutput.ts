/**
 * What `%stardock terminal` and `%stardock desktop` display (issue 15): a button
 * that opens the kernel's terminal or desktop, pressed at once when the output is
 * fresh (a notebook reopened later does not open anything by itself).
 *
 * Only these two actions exist: an output names a terminal or a kernel, never a
 * command, so a notebook from elsewhere cannot run arbitrary commands.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { DesktopCommandIDs } from './desktop';
import { TRANSLATION_DOMAIN } from './tokens';

export const OPEN_MIME = 'application/vnd.jupyter.stardock.open+json';

/** An output younger than this (seconds) opens by itself. */
const FRESH_SECONDS = 60;

interface IOpenAction {
  action: 'terminal' | 'desktop';
  kernel?: string;
  name?: string;
  created?: number;
}

class OpenButton extends Widget implements IRenderMime.IRenderer {
  constructor(app: JupyterFrontEnd, trans: TranslationBundle) {
    super({ node: document.createElement('button') });
    this.addClass('jp-StarDock-openOutput');
    this.addClass('jp-mod-styled');
    this._app = app;
    this._trans = trans;
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[OPEN_MIME] as unknown as IOpenAction;
    const open = (): Promise<unknown> =>
      data.action === 'terminal'
        ? this._app.commands.execute('terminal:open', { name: String(data.name) })
        : this._app.commands.execute(DesktopCommandIDs.openDesktop, {
            kernel: String(data.kernel)
          });
    const node = this.node as HTMLButtonElement;
    node.textContent =
      data.action === 'terminal'
        ? this._trans.__('Open terminal %1', String(data.name))
        : this._trans.__('Open the desktop of kernel %1', String(data.kernel).slice(0, 8));
    node.onclick = () => void open();
    const fresh = Date.now() / 1000 - (data.created ?? 0) < FRESH_SECONDS;
    if (fresh && !this._opened) {
      this._opened = true;
      await open();
    }
  }

  private _app: JupyterFrontEnd;
  private _trans: TranslationBundle;
  private _opened = false;
}

export const openOutputPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-stardock:open-output',
  description: 'Opens the terminal or desktop that %stardock terminal / desktop made.',
  autoStart: true,
  requires: [IRenderMimeRegistry, ITranslator],
  activate: (app: JupyterFrontEnd, rendermime: IRenderMimeRegistry, translator: ITranslator) => {
    const trans = translator.load(TRANSLATION_DOMAIN);
    rendermime.addFactory(
      {
        safe: true,
        mimeTypes: [OPEN_MIME],
        createRenderer: () => new OpenButton(app, trans)
      },
      0
    );
  }
};
