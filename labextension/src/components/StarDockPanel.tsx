import { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon } from '@jupyterlab/ui-components';
import React from 'react';

import { StarDockModel } from '../model';
import { Stager } from '../staging';
import { KernelAction } from '../pause';
import { buildProblem, draftToRecipe, IDraft, IRecipeProblem, sameRecipe } from '../recipe';
import {
  FRONTEND_VERSION,
  IArchive,
  IBuild,
  IEnvironment,
  IKernelInfo
} from '../tokens';
import { AppsSection } from './AppsSection';
import { Banner } from './Banner';
import { BuildSection } from './BuildSection';
import { BuildsSection } from './BuildsSection';
import { CommandsSection } from './CommandsSection';
import { DatasetSection } from './DatasetSection';
import { EnvironmentsSection } from './EnvironmentsSection';
import { KernelsSection } from './KernelsSection';
import { IconButton } from './Section';
import { StatusSection } from './StatusSection';

/** What the panel's controls do; the widget binds these to the model and commands. */
export interface IPanelActions {
  refresh: () => void;
  editDraft: (change: Partial<IDraft>) => void;
  toggleApp: (id: string, chosen: boolean) => void;
  build: () => void;
  cancelBuild: () => void;
  showBuild: (build: IBuild) => void;
  openNotebook: () => void;
  openConsole: () => void;
  copyText: (text: string) => void;
  openEnvironment: (environment: IEnvironment) => void;
  editEnvironment: (environment: IEnvironment) => void;
  deleteEnvironment: (environment: IEnvironment) => void;
  stopKernel: (kernel: IKernelInfo) => void;
  showOutputs: (kernel: IKernelInfo) => void;
  archiveUrl: (archive: IArchive) => string;
  /** issue 17: pause, resume, suspend or restore a kernel. */
  kernelAction?: (kernelId: string, action: KernelAction) => void;
  /** Issue 17: rebuild the archive's environment, every recorded version pinned. */
  rebuildArchive?: (archive: IArchive) => void;
  // issue 15: a terminal and a desktop inside a running kernel's container.
  openTerminal?: (kernel: IKernelInfo) => void;
  openDesktop?: (kernel: IKernelInfo) => void;
}

export interface IStarDockPanelProps {
  state: StarDockModel.IState;
  trans: TranslationBundle;
  actions: IPanelActions;
  /** issue 19: the data service's form in the dataset section. */
  stager?: Stager;
}

/** The whole sidebar: a header, banners, then one section per step. */
export function StarDockPanel(props: IStarDockPanelProps): JSX.Element {
  const { state, trans, actions } = props;
  // The recipe check's problems, and the part of the recipe a failed build of
  // exactly these fields failed at (it goes as soon as they change).
  const failed = failedPart(state);
  const problems = failed ? [...state.check.problems, failed] : state.check.problems;
  const check = failed ? { ...state.check, problems } : state.check;
  const serverVersion = state.status?.version;
  const datasetTitle = state.draft.dataset
    ? (state.datasets?.find(d => d.id === state.draft.dataset)?.title ?? state.draft.dataset)
    : null;
  return (
    <div className="jp-StarDock-panel">
      <header className="jp-StarDock-header">
        <h2 className="jp-StarDock-title">{trans.__('StarDock')}</h2>
        <IconButton
          icon={refreshIcon}
          label={trans.__('Refresh status')}
          onClick={actions.refresh}
          disabled={state.refreshing}
        />
      </header>
      {state.message && (
        <Banner phase={state.phase} message={state.message} trans={trans} />
      )}
      {serverVersion && serverVersion !== FRONTEND_VERSION && (
        <Banner
          phase="version-mismatch"
          message={trans.__(
            'This panel is version %1 but the StarDock server extension is version %2. Install the same jupyter-stardock version for both, then restart JupyterLab.',
            FRONTEND_VERSION,
            serverVersion
          )}
          trans={trans}
        />
      )}
      {state.catalogError && (
        <Banner phase="error" message={state.catalogError} trans={trans} />
      )}
      <DatasetSection
        datasets={state.datasets}
        selected={state.draft.dataset}
        problems={problems.filter(p => p.field === 'dataset')}
        trans={trans}
        onSelect={dataset => actions.editDraft({ dataset })}
        stager={props.stager}
      />
      <AppsSection
        apps={state.apps}
        chosen={state.draft.apps}
        problems={problems.filter(p => p.field === 'apps')}
        catalogProblems={state.catalogProblems}
        trans={trans}
        onToggle={actions.toggleApp}
      />
      <CommandsSection
        draft={state.draft}
        check={check}
        trans={trans}
        onChange={actions.editDraft}
      />
      <BuildSection
        build={state.build}
        blocked={buildBlocked(state, trans)}
        changed={
          !!state.build && !sameRecipe(state.build.recipe, draftToRecipe(state.draft))
        }
        trans={trans}
        onBuild={actions.build}
        onCancel={actions.cancelBuild}
        onOpenNotebook={actions.openNotebook}
        onOpenConsole={actions.openConsole}
        onCopyLog={actions.copyText}
        gpus={!!state.draft.gpus}
        gpuRuntime={!!state.status?.engine?.gpu_runtime}
        onGpus={gpus => actions.editDraft({ gpus })}
      />
      <BuildsSection
        builds={state.builds}
        apps={state.apps}
        shown={state.build?.record?.id ?? null}
        trans={trans}
        onShow={actions.showBuild}
      />
      <EnvironmentsSection
        environments={state.environments}
        apps={state.apps}
        datasetTitle={datasetTitle}
        trans={trans}
        onOpen={actions.openEnvironment}
        onEdit={actions.editEnvironment}
        onDelete={actions.deleteEnvironment}
      />
      <KernelsSection
        kernels={state.kernels}
        archives={state.archives}
        environments={state.environments}
        apps={state.apps}
        datasets={state.datasets}
        stopping={state.stopping}
        trans={trans}
        onStop={actions.stopKernel}
        onShowOutputs={actions.showOutputs}
        onTerminal={actions.openTerminal}
        onDesktop={actions.openDesktop}
        archiveUrl={actions.archiveUrl}
        suspended={state.suspended}
        notice={state.kernelNotice}
        onKernelAction={actions.kernelAction}
        onRebuild={actions.rebuildArchive}
      />
      {state.listsError && <p className="jp-StarDock-section jp-StarDock-hint">{state.listsError}</p>}
      <StatusSection state={state} trans={trans} />
    </div>
  );
}

/** The recipe part the shown build failed at, if it is a build of the fields as they are. */
function failedPart(state: StarDockModel.IState): IRecipeProblem | null {
  const build = state.build;
  return build?.record ? buildProblem(build.record, build.recipe, state.draft) : null;
}

/** Why Build cannot be pressed now, or `null` when it can. */
export function buildBlocked(
  state: StarDockModel.IState,
  trans: TranslationBundle
): string | null {
  if (state.phase === 'server-missing') {
    return trans.__('The StarDock server extension is missing.');
  }
  if (state.phase === 'engine-down') {
    return trans.__('The container engine is not reachable.');
  }
  if (state.check.problems.length && !state.check.checking) {
    return trans.__('Fix the problems marked above first.');
  }
  return null;
}
