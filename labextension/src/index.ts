/**
 * The StarDock JupyterLab extension: a left sidebar panel to pick a dataset,
 * tick apps, add commands, build, and open a notebook beside the data.
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ITranslator } from '@jupyterlab/translation';

import { addCommands } from './commands';
import { addDesktopCommands } from './desktop'; // issue 15
import { openOutputPlugin } from './openOutput'; // issue 15
import { kernelExitsPlugin } from './kernelExits';
import { StarDockModel } from './model';
import { RecipeKeeper } from './notebooks';
import { addWorkFolderCommand } from './workFolder';
import { IDraft } from './recipe';
import { IStarDockSettings, PLUGIN_ID, TRANSLATION_DOMAIN } from './tokens';
import { StarDockSidebar } from './widget';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A sidebar panel to build container environments and run kernels in them.',
  autoStart: true,
  requires: [ITranslator],
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    ISettingRegistry,
    INotebookTracker,
    IStateDB
  ],
  activate
};

/** Where the recipe being written is kept across page reloads. */
const DRAFT_KEY = `${PLUGIN_ID}:draft`;

function activate(
  app: JupyterFrontEnd,
  translator: ITranslator,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null,
  notebooks: INotebookTracker | null,
  state: IStateDB | null
): void {
  const trans = translator.load(TRANSLATION_DOMAIN);

  // 1. One model per page: the only part that talks to the server extension.
  //    Kernels stop through JupyterLab's manager, so open notebooks notice at once.
  const model = new StarDockModel({
    translator,
    shutdownKernel: id => app.serviceManager.kernels.shutdown(id)
  });

  // 2. The panel lives in the left sidebar; the restorer reopens it after a reload.
  const panel = new StarDockSidebar({ model, translator, commands: app.commands });
  app.shell.add(panel, 'left', { rank: 850 });
  restorer?.add(panel, panel.id);
  const showPanel = (): void => app.shell.activateById(panel.id);

  // 3. Commands for the panel's buttons; the general ones also in the palette.
  const paletteCommands = addCommands({ app, model, trans, showPanel });
  paletteCommands.forEach(command =>
    palette?.addItem({ command, category: trans.__('StarDock') })
  );
  model.stateChanged.connect(() => app.commands.notifyCommandChanged());
  // issue 15: a terminal and a desktop inside a running kernel's container.
  addDesktopCommands({ app, model, trans, notebooks }).forEach(command =>
    palette?.addItem({ command, category: trans.__('StarDock') })
  );

  // 4. New kernelspecs appear in the launcher; kernels stopped elsewhere leave the list.
  model.environmentReady.connect(
    () => void app.serviceManager.kernelspecs.refreshSpecs()
  );
  app.serviceManager.kernels.runningChanged.connect(() => void model.refreshLists());

  // 5. Notebooks carry their recipe; one whose environment is missing can rebuild it.
  if (notebooks) {
    new RecipeKeeper({ app, tracker: notebooks, model, trans, showPanel });
    // issue 18: a notebook's own opt-in to its folder at /work.
    const command = addWorkFolderCommand(app, notebooks, trans);
    palette?.addItem({ command, category: trans.__('StarDock') });
  }

  // 6. The recipe being written survives a reload; then everything is read once.
  void restoreDraft(model, state).then(() => model.load());

  // 7. Settings follow the settings editor live.
  if (settingRegistry) {
    const apply = (settings: ISettingRegistry.ISettings): void => {
      const values = settings.composite as unknown as IStarDockSettings;
      model.refreshInterval = values.refreshInterval;
      model.maxLogLines = values.maxLogLines;
      model.checkDelay = values.checkDelay;
    };
    settingRegistry
      .load(PLUGIN_ID)
      .then(settings => {
        apply(settings);
        settings.changed.connect(apply);
      })
      .catch(reason => {
        console.error('jupyter-stardock: settings could not be loaded; using defaults.', reason);
      });
  }
}

async function restoreDraft(model: StarDockModel, state: IStateDB | null): Promise<void> {
  if (!state) {
    return;
  }
  const saved = (await state.fetch(DRAFT_KEY).catch(() => undefined)) as IDraft | undefined;
  if (saved && typeof saved === 'object' && Array.isArray(saved.apps)) {
    model.updateDraft(saved);
  }
  let last = model.state.draft;
  model.stateChanged.connect((_, { draft }) => {
    if (draft !== last) {
      last = draft;
      void state.save(DRAFT_KEY, draft as unknown as Record<string, string>);
    }
  });
}

export default [plugin, kernelExitsPlugin, openOutputPlugin]; // issue 15: openOutputPlugin
