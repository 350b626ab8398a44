import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { StarDockModel } from '../model';

export interface IBannerProps {
  /** A phase of the model, or a frontend and server of different versions. */
  phase: StarDockModel.Phase | 'version-mismatch';
  message: string;
  trans: TranslationBundle;
}

/** A sentence the user has to act on: engine down, server extension missing, ... */
export function Banner(props: IBannerProps): JSX.Element {
  const { phase, message, trans } = props;
  const severe = phase !== 'engine-down' && phase !== 'version-mismatch';
  const title =
    phase === 'engine-down'
      ? trans.__('Container engine unavailable')
      : phase === 'server-missing'
        ? trans.__('Server extension missing')
        : phase === 'version-mismatch'
          ? trans.__('Versions differ')
          : trans.__('Something went wrong');
  return (
    <div
      className={`jp-StarDock-banner ${severe ? 'jp-mod-error' : 'jp-mod-warning'}`}
      role={severe ? 'alert' : 'status'}
      data-phase={phase}
    >
      <p className="jp-StarDock-bannerTitle">{title}</p>
      <p className="jp-StarDock-bannerMessage">{message}</p>
    </div>
  );
}
