/**
 * The Lumino widget that hosts the React views and binds them to the model.
 */

import { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import React from 'react';

import { StarDockPanel } from './components/StarDockPanel';
import { stardockIcon } from './icons';
import { StarDockModel } from './model';
import { PANEL_ID, TRANSLATION_DOMAIN } from './tokens';

export class StarDockSidebar extends ReactWidget {
  constructor(options: StarDockSidebar.IOptions) {
    super();
    this._model = options.model;
    this._trans = options.translator.load(TRANSLATION_DOMAIN);
    this.id = PANEL_ID;
    this.addClass('jp-StarDock-sidebar');
    this.title.icon = stardockIcon;
    this.title.caption = this._trans.__('StarDock');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', this._trans.__('StarDock panel'));
  }

  render(): JSX.Element {
    const model = this._model;
    return (
      <UseSignal signal={model.stateChanged} initialArgs={model.state}>
        {(_, state) => (
          <StarDockPanel
            state={state ?? model.state}
            trans={this._trans}
            onRefresh={() => void model.refresh()}
          />
        )}
      </UseSignal>
    );
  }

  private _model: StarDockModel;
  private _trans: TranslationBundle;
}

export namespace StarDockSidebar {
  export interface IOptions {
    model: StarDockModel;
    translator: ITranslator;
  }
}
