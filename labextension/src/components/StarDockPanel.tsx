import { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { StarDockModel } from '../model';
import { Banner } from './Banner';
import { StatusSection } from './StatusSection';

export interface IStarDockPanelProps {
  state: StarDockModel.IState;
  trans: TranslationBundle;
  onRefresh: () => void;
}

/** The whole sidebar: a header, then one section per concern. */
export function StarDockPanel(props: IStarDockPanelProps): JSX.Element {
  const { state, trans, onRefresh } = props;
  return (
    <div className="jp-StarDock-panel">
      <header className="jp-StarDock-header">
        <h2 className="jp-StarDock-title">{trans.__('StarDock')}</h2>
        <button
          type="button"
          className="jp-StarDock-iconButton"
          onClick={onRefresh}
          disabled={state.refreshing}
          aria-label={trans.__('Refresh status')}
          title={trans.__('Refresh status')}
        >
          <refreshIcon.react tag="span" elementSize="normal" />
        </button>
      </header>
      {state.message && (
        <Banner phase={state.phase} message={state.message} trans={trans} />
      )}
      <StatusSection state={state} trans={trans} />
    </div>
  );
}
