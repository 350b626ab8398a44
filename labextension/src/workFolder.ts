/**
 * issue 18: a notebook's own opt-in to its folder at /work in its kernel.
 *
 * Kept in the notebook's StarDock metadata (`"work": true`), which the server
 * reads when a kernel starts for it, if the operator allows it
 * (`c.StarDockProvisioner.notebook_folder_per_notebook`). A restart keeps the
 * kernel's container settings, so the toggle starts a new kernel of the same
 * kernelspec.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';

import { isRecord } from './request';
import { METADATA_KEY } from './tokens';

export const TOGGLE_WORK_FOLDER = 'stardock:toggle-notebook-folder';

/** Whether a notebook's StarDock metadata asks for its folder at /work. */
export function asksForWork(metadata: unknown): boolean {
  return isRecord(metadata) && metadata.work === true;
}

/** The metadata with the opt-in set or cleared; everything else kept. */
export function withWork(metadata: unknown, work: boolean): Record<string, unknown> {
  const kept = isRecord(metadata) ? { ...metadata } : {};
  if (work) {
    kept.work = true;
  } else {
    delete kept.work;
  }
  return kept;
}

/** The command (in the palette): toggles the current notebook's opt-in, then a new kernel. */
export function addWorkFolderCommand(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  trans: TranslationBundle
): string {
  const current = () => tracker.currentWidget;
  app.commands.addCommand(TOGGLE_WORK_FOLDER, {
    label: trans.__("Mount This Notebook's Folder at /work"),
    caption: trans.__(
      "Read-only, as the kernel's working folder, if the operator allows it; starts a new kernel."
    ),
    isEnabled: () => !!current()?.model,
    isToggled: () => asksForWork(current()?.model?.getMetadata(METADATA_KEY)),
    execute: async () => {
      const panel = current();
      if (!panel?.model) {
        return;
      }
      const metadata = panel.model.getMetadata(METADATA_KEY);
      panel.model.setMetadata(METADATA_KEY, withWork(metadata, !asksForWork(metadata)));
      await panel.context.save();
      const name = panel.sessionContext.session?.kernel?.name;
      if (name) {
        await panel.sessionContext.changeKernel({ name });
      }
      app.commands.notifyCommandChanged(TOGGLE_WORK_FOLDER);
    }
  });
  return TOGGLE_WORK_FOLDER;
}
