/**
 * Notebooks and consoles on StarDock kernels, and the recipe that travels in
 * a notebook's metadata so that its environment can be rebuilt elsewhere.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';

import { StarDockModel } from './model';
import { isRecord } from './request';
import { ILock, INotebookRecipe, IRecipe, LabCommandIDs, METADATA_KEY } from './tokens';

/** What a notebook records about the environment it was opened on. */
export function notebookRecipe(ready: StarDockModel.IReady): INotebookRecipe {
  const { dataset, ...image } = ready.recipe;
  return {
    environment: ready.environment,
    content_hash: ready.contentHash,
    image_id: ready.imageId,
    dataset: dataset ?? null,
    recipe: { ...image, dataset: dataset ?? null },
    kernelspec: ready.kernelspec,
    lock: ready.lock ?? null // issue 17: the exact versions travel with the recipe
  };
}

/** Issue 17: the lock a notebook records, if it is one. */
export function readLock(value: unknown): ILock | null {
  return isRecord(value) &&
    value.format === 'jupyter-stardock lock 1' &&
    isRecord(value.debian) &&
    isRecord(value.python)
    ? (value as unknown as ILock)
    : null;
}

/** Issue 17: the recipe with every version of its lock pinned (apt name=version, pip ==). */
export function pinnedRecipe(recipe: IRecipe, lock: ILock | null): IRecipe {
  return lock ? { ...recipe, pins: { apt: lock.debian, pip: lock.python } } : recipe;
}

/** A notebook's StarDock metadata, or `null` when it has none (or not of this shape). */
export function readNotebookRecipe(value: unknown): INotebookRecipe | null {
  if (!isRecord(value) || typeof value.environment !== 'string' || !isRecord(value.recipe)) {
    return null;
  }
  const recipe = value.recipe;
  const strings = (field: unknown): string[] =>
    Array.isArray(field) ? field.filter((s): s is string => typeof s === 'string') : [];
  const dataset = typeof value.dataset === 'string' ? value.dataset : null;
  return {
    environment: value.environment,
    content_hash: typeof value.content_hash === 'string' ? value.content_hash : '',
    image_id: typeof value.image_id === 'string' ? value.image_id : null,
    dataset,
    recipe: {
      dataset,
      apps: strings(recipe.apps),
      commands: strings(recipe.commands),
      apt_packages: strings(recipe.apt_packages),
      pip_packages: strings(recipe.pip_packages)
    },
    kernelspec: typeof value.kernelspec === 'string' ? value.kernelspec : '',
    lock: readLock(value.lock)
  };
}

/**
 * Open a new notebook on an environment's kernel, and record the recipe in it.
 *
 * The kernelspec was written by the server a moment ago: refresh the specs
 * first, or JupyterLab would not know the name.
 */
export async function openNotebook(
  app: JupyterFrontEnd,
  ready: StarDockModel.IReady
): Promise<NotebookPanel> {
  await app.serviceManager.kernelspecs.refreshSpecs();
  const panel: NotebookPanel = await app.commands.execute(LabCommandIDs.createNotebook, {
    kernelName: ready.kernelspec
  });
  await panel.context.ready;
  recordRecipe(panel, ready);
  await panel.context.save();
  return panel;
}

/** Open a console on an environment's kernel. */
export async function openConsole(
  app: JupyterFrontEnd,
  ready: StarDockModel.IReady
): Promise<void> {
  await app.serviceManager.kernelspecs.refreshSpecs();
  await app.commands.execute(LabCommandIDs.createConsole, {
    kernelPreference: { name: ready.kernelspec }
  });
}

function recordRecipe(panel: NotebookPanel, ready: StarDockModel.IReady): void {
  panel.model?.setMetadata(METADATA_KEY, notebookRecipe(ready));
}

/**
 * Watches notebooks as they open: one that records a StarDock recipe whose
 * environment is not on this server is offered a rebuild of exactly that
 * recipe, after which it moves to the new kernel.
 */
export class RecipeKeeper {
  constructor(options: RecipeKeeper.IOptions) {
    this._options = options;
    options.tracker.widgetAdded.connect((_, panel) => void this._check(panel));
  }

  private async _check(panel: NotebookPanel): Promise<void> {
    const { app, model, trans } = this._options;
    await panel.context.ready;
    const recorded = readNotebookRecipe(panel.model?.getMetadata(METADATA_KEY));
    if (!recorded) {
      return;
    }
    const exists = await model.environmentExists(recorded.environment);
    if (exists === null) {
      return; // the server cannot tell (engine down): the panel's banner says why
    }
    await app.serviceManager.kernelspecs.refreshSpecs();
    const specs = app.serviceManager.kernelspecs.specs?.kernelspecs ?? {};
    if (exists && specs[recorded.kernelspec]) {
      return;
    }
    if (model.state.datasets === null) {
      await model.loadCatalog();
    }
    const dataset =
      recorded.dataset && model.state.datasets?.some(d => d.id === recorded.dataset)
        ? recorded.dataset
        : null;
    // Issue 17: a missing environment is rebuilt with every version of the lock pinned;
    // one that exists only lacks this dataset's kernelspec, answered at once.
    const asked: IRecipe = { ...recorded.recipe, dataset };
    const recipe = exists ? asked : pinnedRecipe(asked, recorded.lock ?? null);
    if (!exists) {
      const choice = await showDialog({
        title: trans.__('Rebuild this notebook’s environment?'),
        body: rebuildSentence(panel, recorded, dataset, trans),
        buttons: [
          Dialog.cancelButton({ label: trans.__('Not now') }),
          Dialog.okButton({ label: trans.__('Rebuild') })
        ]
      });
      if (!choice.button.accept) {
        return;
      }
      model.loadRecipe(recorded.recipe, dataset);
      this._options.showPanel();
    }
    // An environment that exists but lacks this dataset's kernelspec is answered at once.
    const ready = await model.build(recipe);
    if (!ready || panel.isDisposed) {
      return;
    }
    await app.serviceManager.kernelspecs.refreshSpecs();
    // uicover fix: a kernelspec missing from one listing (the engine slow to answer)
    // must not replace the kernel the notebook already runs on that very kernelspec.
    if (panel.sessionContext.session?.kernel?.name !== ready.kernelspec) {
      await panel.sessionContext.changeKernel({ name: ready.kernelspec });
    }
    recordRecipe(panel, ready);
  }

  private _options: RecipeKeeper.IOptions;
}

export namespace RecipeKeeper {
  export interface IOptions {
    app: JupyterFrontEnd;
    tracker: INotebookTracker;
    model: StarDockModel;
    trans: TranslationBundle;
    /** Bring the StarDock panel forward, where the rebuild shows its progress. */
    showPanel: () => void;
  }
}

function rebuildSentence(
  panel: NotebookPanel,
  recorded: INotebookRecipe,
  dataset: string | null,
  trans: TranslationBundle
): string {
  const recipe = recorded.recipe;
  const parts = [
    trans.__(
      '%1 was made in the StarDock environment %2, which is not on this server.',
      panel.context.path,
      recorded.environment
    ),
    trans.__(
      'Its recipe: apps %1; %2 custom commands; %3 extra packages.',
      recipe.apps.length ? recipe.apps.join(', ') : trans.__('none'),
      recipe.commands.length,
      recipe.apt_packages.length + recipe.pip_packages.length
    )
  ];
  if (recorded.dataset && !dataset) {
    parts.push(
      trans.__(
        'Its dataset %1 is not available here; the kernel will start without /data.',
        recorded.dataset
      )
    );
  }
  if (recorded.lock) {
    // issue 17
    parts.push(
      trans.__(
        'It records the exact versions it ran with (%1 Debian and %2 Python packages); the rebuild pins every one of them.',
        Object.keys(recorded.lock.debian).length,
        Object.keys(recorded.lock.python).length
      )
    );
  }
  parts.push(
    trans.__(
      'Rebuild exactly this recipe and move the notebook to the new kernel? The build shows in the StarDock panel.'
    )
  );
  return parts.join(' ');
}
