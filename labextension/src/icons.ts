/**
 * The icons of the StarDock panel. Creating a LabIcon registers it by name,
 * which is why this lives apart from the side-effect-free `tokens.ts`.
 */

import { LabIcon } from '@jupyterlab/ui-components';

import stardockSvgstr from '../style/icons/stardock.svg';

/** A star over a dock: the sidebar tab, the command and the settings entry. */
export const stardockIcon = new LabIcon({
  name: 'jupyter-stardock:stardock',
  svgstr: stardockSvgstr
});
