/**
 * The StarDock JupyterLab extension: a left sidebar panel that shows what the
 * StarDock server extension and its container engine are doing.
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator } from '@jupyterlab/translation';

import { stardockIcon } from './icons';
import { StarDockModel } from './model';
import {
  CommandIDs,
  DEFAULT_SETTINGS,
  PLUGIN_ID,
  TRANSLATION_DOMAIN
} from './tokens';
import { StarDockSidebar } from './widget';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A sidebar panel to build container environments and run kernels in them.',
  autoStart: true,
  requires: [ITranslator],
  optional: [ILayoutRestorer, ICommandPalette, ISettingRegistry],
  activate
};

function activate(
  app: JupyterFrontEnd,
  translator: ITranslator,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null
): void {
  const trans = translator.load(TRANSLATION_DOMAIN);

  // 1. One model per page: it polls the server and holds what the panel shows.
  const model = new StarDockModel({ translator });
  void model.refresh();

  // 2. The panel lives in the left sidebar; the restorer reopens it after a reload.
  const panel = new StarDockSidebar({ model, translator });
  app.shell.add(panel, 'left', { rank: 850 });
  restorer?.add(panel, panel.id);

  // 3. A command to open it, also in the command palette.
  app.commands.addCommand(CommandIDs.openPanel, {
    label: trans.__('Open StarDock Panel'),
    caption: trans.__('Show the StarDock panel in the left sidebar'),
    icon: args => (args.isPalette ? undefined : stardockIcon),
    execute: () => app.shell.activateById(panel.id)
  });
  palette?.addItem({
    command: CommandIDs.openPanel,
    category: trans.__('StarDock')
  });

  // 4. Settings: the refresh interval follows the settings editor live.
  if (settingRegistry) {
    const apply = (settings: ISettingRegistry.ISettings): void => {
      model.refreshInterval = settings.get('refreshInterval').composite as number;
    };
    settingRegistry
      .load(PLUGIN_ID)
      .then(settings => {
        apply(settings);
        settings.changed.connect(apply);
      })
      .catch(reason => {
        console.error(
          `jupyter-stardock: settings could not be loaded; refreshing every ${DEFAULT_SETTINGS.refreshInterval} s.`,
          reason
        );
      });
  }
}

export default plugin;
