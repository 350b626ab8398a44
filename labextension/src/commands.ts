/**
 * The StarDock commands: what the panel's buttons and the command palette run.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { stardockIcon } from './icons';
import { StarDockModel } from './model';
import { openConsole, openNotebook, pinnedRecipe } from './notebooks';
import { CommandIDs, IEnvironment, LabCommandIDs } from './tokens';
import { recipeSummary } from './components/EnvironmentsSection';

export interface ICommandOptions {
  app: JupyterFrontEnd;
  model: StarDockModel;
  trans: TranslationBundle;
  /** Bring the StarDock panel forward. */
  showPanel: () => void;
}

/** Add every StarDock command; returns the ids that belong in the palette. */
export function addCommands(options: ICommandOptions): string[] {
  const { app, model, trans, showPanel } = options;
  const { commands } = app;
  const state = (): StarDockModel.IState => model.state;
  const running = (): boolean =>
    !!state().build?.submitting ||
    ['queued', 'running'].includes(state().build?.record?.state ?? '');

  /** The environment a command opens: one of the list (by id), or the last build. */
  const readyFor = async (
    args: ReadonlyPartialJSONObject
  ): Promise<StarDockModel.IReady | null> => {
    const id = typeof args.environment === 'string' ? args.environment : null;
    if (!id) {
      return state().build?.ready ?? null;
    }
    const environment = environmentById(id);
    if (!environment) {
      return null;
    }
    showPanel();
    // The environment exists, so this answers at once, with the kernelspec for
    // the dataset picked in the panel.
    return model.build({
      apps: environment.recipe.apps ?? environment.apps,
      commands: environment.recipe.commands ?? [],
      apt_packages: environment.recipe.apt_packages ?? [],
      pip_packages: environment.recipe.pip_packages ?? [],
      dataset: state().draft.dataset
    });
  };
  const environmentById = (id: string): IEnvironment | undefined =>
    state().environments?.find(e => e.id === id);
  const report = (title: string) => (error: unknown) =>
    void showErrorMessage(title, error instanceof Error ? error.message : String(error));

  commands.addCommand(CommandIDs.openPanel, {
    label: trans.__('Open StarDock Panel'),
    caption: trans.__('Show the StarDock panel in the left sidebar'),
    icon: args => (args.isPalette ? undefined : stardockIcon),
    execute: showPanel
  });

  commands.addCommand(CommandIDs.refresh, {
    label: trans.__('Refresh StarDock'),
    caption: trans.__('Read the status, catalog, environments and kernels again'),
    execute: () => model.load()
  });

  commands.addCommand(CommandIDs.build, {
    label: trans.__('Build StarDock Environment'),
    caption: trans.__('Build the recipe in the StarDock panel'),
    isEnabled: () => !running(),
    execute: async () => {
      showPanel();
      await model.build();
    }
  });

  commands.addCommand(CommandIDs.cancelBuild, {
    label: trans.__('Cancel StarDock Build'),
    isEnabled: running,
    execute: () => model.cancelBuild()
  });

  /** Open a notebook or console on the built environment, or on one of the list. */
  const addOpenCommand = (
    id: string,
    labels: [inEnvironment: string, inBuilt: string],
    open: (app: JupyterFrontEnd, ready: StarDockModel.IReady) => Promise<unknown>,
    failure: string
  ): void => {
    commands.addCommand(id, {
      label: args => (args.environment ? labels[0] : labels[1]),
      isEnabled: args => !!args.environment || !!state().build?.ready,
      execute: async args => {
        const ready = await readyFor(args);
        if (ready) {
          await open(app, ready).catch(report(failure));
        }
      }
    });
  };
  addOpenCommand(
    CommandIDs.openNotebook,
    [
      trans.__('Open a Notebook in This Environment'),
      trans.__('Open Notebook in the Built StarDock Environment')
    ],
    openNotebook,
    trans.__('Cannot open a notebook')
  );
  addOpenCommand(
    CommandIDs.openConsole,
    [
      trans.__('Open a Console in This Environment'),
      trans.__('Open Console in the Built StarDock Environment')
    ],
    openConsole,
    trans.__('Cannot open a console')
  );

  commands.addCommand(CommandIDs.editRecipe, {
    label: trans.__('Edit a Copy of This Recipe'),
    execute: args => {
      const environment = environmentById(String(args.environment));
      if (environment) {
        model.loadRecipe(environment.recipe, state().draft.dataset);
        showPanel();
      }
    }
  });

  // issue 17: the environment an archive ran in, again, every recorded version pinned
  commands.addCommand(CommandIDs.rebuildArchive, {
    label: trans.__('Rebuild the Environment of This Archive'),
    execute: async args => {
      const archive = state().archives?.find(a => a.id === String(args.archive));
      const manifest = archive?.manifest;
      if (!manifest?.recipe || !manifest.lock) {
        await showErrorMessage(
          trans.__('Nothing to rebuild'),
          trans.__(
            'This archive records no exact versions (it was made before StarDock locked environments); edit a copy of its environment’s recipe instead.'
          )
        );
        return;
      }
      const dataset = manifest.dataset?.id ?? null;
      const known = dataset && state().datasets?.some(d => d.id === dataset) ? dataset : null;
      const recipe = {
        apps: manifest.recipe.apps ?? [],
        commands: manifest.recipe.commands ?? [],
        apt_packages: manifest.recipe.apt_packages ?? [],
        pip_packages: manifest.recipe.pip_packages ?? [],
        dataset: known
      };
      showPanel();
      await model.build(pinnedRecipe(recipe, manifest.lock));
    }
  });

  commands.addCommand(CommandIDs.deleteEnvironment, {
    label: trans.__('Delete This Environment'),
    execute: async args => {
      const environment = environmentById(String(args.environment));
      if (!environment) {
        return;
      }
      const summary = recipeSummary(environment, state().apps, trans);
      const choice = await showDialog({
        title: trans.__('Delete the environment?'),
        body: trans.__(
          'This removes the image of %1 (%2). Notebooks that recorded its recipe can rebuild it later.',
          summary,
          environment.id
        ),
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: trans.__('Delete') })
        ]
      });
      if (choice.button.accept) {
        await model
          .deleteEnvironment(environment.id)
          .catch(report(trans.__('Cannot delete the environment')));
      }
    }
  });

  commands.addCommand(CommandIDs.stopKernel, {
    label: trans.__('Stop This StarDock Kernel'),
    execute: args =>
      model
        .stopKernel(String(args.kernel))
        .catch(report(trans.__('Cannot stop the kernel'))),
  });

  commands.addCommand(CommandIDs.showOutputs, {
    label: trans.__('Show the Outputs Folder'),
    execute: args =>
      commands.execute(LabCommandIDs.goToPath, { path: String(args.path) })
  });

  return [
    CommandIDs.openPanel,
    CommandIDs.refresh,
    CommandIDs.build,
    CommandIDs.cancelBuild,
    CommandIDs.openNotebook,
    CommandIDs.openConsole
  ];
}
