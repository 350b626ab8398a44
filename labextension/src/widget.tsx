/**
 * The Lumino widget that hosts the React views and binds them to the model.
 */

import { Clipboard } from '@jupyterlab/apputils';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import React from 'react';

import { IPanelActions, StarDockPanel } from './components/StarDockPanel';
import { stardockIcon } from './icons';
import { StarDockModel } from './model';
import { DesktopCommandIDs } from './desktop'; // issue 15
import { CommandIDs, PANEL_ID, TRANSLATION_DOMAIN } from './tokens';

export class StarDockSidebar extends ReactWidget {
  constructor(options: StarDockSidebar.IOptions) {
    super();
    this._model = options.model;
    this._trans = options.translator.load(TRANSLATION_DOMAIN);
    this._actions = panelActions(options.model, options.commands);
    this.id = PANEL_ID;
    this.addClass('jp-StarDock-sidebar');
    this.title.icon = stardockIcon;
    this.title.caption = this._trans.__('StarDock');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', this._trans.__('StarDock panel'));
    // Back from a terminal or a notebook in another window: show what happened meanwhile.
    window.addEventListener('focus', this._onFocus);
  }

  /** Builds started elsewhere (the CLI, the magics, another tab) show when the panel is looked at again. */
  protected onAfterShow(): void {
    void this._model.refreshLists();
  }

  dispose(): void {
    window.removeEventListener('focus', this._onFocus);
    super.dispose();
  }

  render(): JSX.Element {
    const model = this._model;
    return (
      <UseSignal signal={model.stateChanged} initialArgs={model.state}>
        {(_, state) => (
          <StarDockPanel
            state={state ?? model.state}
            trans={this._trans}
            actions={this._actions}
            stager={model.stager}
          />
        )}
      </UseSignal>
    );
  }

  private _onFocus = (): void => {
    if (this.isVisible) {
      void this._model.refreshLists();
    }
  };
  private _model: StarDockModel;
  private _trans: TranslationBundle;
  private _actions: IPanelActions;
}

export namespace StarDockSidebar {
  export interface IOptions {
    model: StarDockModel;
    translator: ITranslator;
    /** Runs the StarDock commands the buttons stand for. */
    commands: CommandRegistry;
  }
}

/** Editing goes to the model; anything that opens, deletes or stops, through a command. */
function panelActions(model: StarDockModel, commands: CommandRegistry): IPanelActions {
  const run = (id: string, args = {}): void => void commands.execute(id, args);
  return {
    refresh: () => run(CommandIDs.refresh),
    editDraft: change => model.updateDraft(change),
    toggleApp: (id, chosen) => model.toggleApp(id, chosen),
    build: () => run(CommandIDs.build),
    cancelBuild: () => run(CommandIDs.cancelBuild),
    showBuild: build => void model.showBuild(build),
    openNotebook: () => run(CommandIDs.openNotebook),
    openConsole: () => run(CommandIDs.openConsole),
    copyText: text => Clipboard.copyToSystem(text),
    openEnvironment: env => run(CommandIDs.openNotebook, { environment: env.id }),
    editEnvironment: env => run(CommandIDs.editRecipe, { environment: env.id }),
    deleteEnvironment: env => run(CommandIDs.deleteEnvironment, { environment: env.id }),
    stopKernel: kernel => run(CommandIDs.stopKernel, { kernel: kernel.id }),
    showOutputs: kernel => run(CommandIDs.showOutputs, { path: kernel.outputs ?? '' }),
    archiveUrl: archive => model.archiveUrl(archive.id),
    kernelAction: (id, action) => void model.kernelAction(id, action), // issue 17
    rebuildArchive: archive => run(CommandIDs.rebuildArchive, { archive: archive.id }), // issue 17
    // issue 15
    openTerminal: kernel => run(DesktopCommandIDs.openTerminal, { kernel: kernel.id }),
    openDesktop: kernel => run(DesktopCommandIDs.openDesktop, { kernel: kernel.id })
  };
}
