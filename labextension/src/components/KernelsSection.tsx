import { Time } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import {
  downloadIcon,
  folderIcon,
  historyIcon,
  imageIcon,
  pauseIcon,
  refreshIcon,
  runIcon,
  saveIcon,
  stopIcon,
  terminalIcon
} from '@jupyterlab/ui-components';
import React from 'react';

import { formatBytes } from '../format';
import { ISuspendedKernel, KernelAction } from '../pause';
import { IApp, IArchive, IDataset, IEnvironment, IKernelInfo } from '../tokens';
import { recipeSummary } from './EnvironmentsSection';
import { IconButton, ListItem, Section } from './Section';

/** How many archives are listed; the rest stay on the server. */
const MAX_ARCHIVES = 10;

export interface IKernelsSectionProps {
  kernels: readonly IKernelInfo[] | null;
  archives: readonly IArchive[] | null;
  environments: readonly IEnvironment[] | null;
  apps: readonly IApp[] | null;
  datasets: readonly IDataset[] | null;
  /** Kernels being stopped. */
  stopping: readonly string[];
  trans: TranslationBundle;
  onStop: (kernel: IKernelInfo) => void;
  onShowOutputs: (kernel: IKernelInfo) => void;
  archiveUrl: (archive: IArchive) => string;
  // issue 17: pause, resume, suspend; restore a suspended kernel
  suspended?: readonly ISuspendedKernel[] | null;
  notice?: string | null;
  onKernelAction?: (kernelId: string, action: KernelAction) => void;
  /** Issue 17: offered for archives that record their exact versions. */
  onRebuild?: (archive: IArchive) => void;
  // issue 15: a terminal and a desktop inside the kernel's container.
  onTerminal?: (kernel: IKernelInfo) => void;
  onDesktop?: (kernel: IKernelInfo) => void;
}

/** Running StarDock kernels with their outputs, and the archives of stopped ones. */
export function KernelsSection(props: IKernelsSectionProps): JSX.Element {
  const { kernels, archives, trans } = props;
  const datasetTitle = (id: string | null | undefined): string | null =>
    id ? (props.datasets?.find(d => d.id === id)?.title ?? id) : null;
  // issue 15: the desktop button only where the environment has the Desktop app.
  const hasDesktop = (id: string | undefined): boolean =>
    props.environments?.find(e => e.id === id)?.apps.includes('desktop') ?? true;
  const environmentSummary = (id: string | undefined): string => {
    const environment = props.environments?.find(e => e.id === id);
    return environment ? recipeSummary(environment, props.apps, trans) : (id ?? '');
  };

  return (
    <>
      <Section title={trans.__('Running kernels')} busy={kernels === null}>
        {kernels !== null && !kernels.length && (
          <p className="jp-StarDock-hint">{trans.__('No StarDock kernel is running.')}</p>
        )}
        <ul className="jp-StarDock-list">
          {kernels?.map(kernel => {
            const title = [environmentSummary(kernel.environment), datasetTitle(kernel.dataset)]
              .filter(Boolean)
              .join(' · ');
            const stopping = props.stopping.includes(kernel.id);
            return (
              <ListItem
                key={kernel.id}
                title={title}
                details={[
                  stopping ? trans.__('stopping…') : kernel.state,
                  kernel.started
                    ? trans.__('started %1', Time.formatHuman(new Date(kernel.started * 1000)))
                    : ''
                ]}
                data={{ kernel: kernel.id }}
              >
                <IconButton
                  icon={folderIcon}
                  label={
                    kernel.outputs
                      ? trans.__('Show the outputs folder %1', kernel.outputs)
                      : trans.__('The outputs folder is outside the file browser’s root')
                  }
                  onClick={() => props.onShowOutputs(kernel)}
                  disabled={!kernel.outputs}
                />
                {props.onKernelAction && (
                  <PauseButtons
                    kernel={kernel}
                    title={title}
                    trans={trans}
                    onAction={props.onKernelAction}
                  />
                )}
                {props.onTerminal && (
                  <IconButton
                    icon={terminalIcon}
                    label={trans.__('Open a terminal inside the kernel %1', title)}
                    onClick={() => props.onTerminal?.(kernel)}
                    disabled={stopping || kernel.state !== 'running'}
                  />
                )}
                {props.onDesktop && hasDesktop(kernel.environment) && (
                  <IconButton
                    icon={imageIcon}
                    label={trans.__('Open the desktop of the kernel %1 (DS9, TOPCAT)', title)}
                    onClick={() => props.onDesktop?.(kernel)}
                    disabled={stopping || kernel.state !== 'running'}
                  />
                )}
                <IconButton
                  icon={stopIcon}
                  label={trans.__('Stop the kernel %1 and archive its outputs', title)}
                  onClick={() => props.onStop(kernel)}
                  disabled={stopping}
                />
              </ListItem>
            );
          })}
        </ul>
      </Section>
      {props.notice && (
        <p className="jp-StarDock-hint jp-StarDock-kernelNotice" role="status">
          {props.notice}
        </p>
      )}
      {props.onKernelAction && !!props.suspended?.length && (
        <SuspendedSection
          suspended={props.suspended}
          describe={id => environmentSummary(id)}
          trans={trans}
          onRestore={id => props.onKernelAction?.(id, 'restore')}
        />
      )}
      <Section title={trans.__('Archived outputs')} busy={archives === null}>
        {archives !== null && !archives.length && (
          <p className="jp-StarDock-hint">
            {trans.__('A kernel’s /outputs folder is archived here when it stops.')}
          </p>
        )}
        <ul className="jp-StarDock-list">
          {archives?.slice(0, MAX_ARCHIVES).map(archive => {
            const manifest = archive.manifest;
            const title = [
              environmentSummary(manifest.environment),
              manifest.dataset?.title ?? null
            ]
              .filter(Boolean)
              .join(' · ');
            return (
              <ListItem
                key={archive.id}
                title={title || archive.id}
                details={[
                  manifest.stopped
                    ? trans.__('stopped %1', Time.formatHuman(new Date(manifest.stopped * 1000)))
                    : '',
                  formatBytes(archive.size)
                ]}
                data={{ archive: archive.id }}
              >
                <a
                  className="jp-StarDock-iconButton"
                  href={props.archiveUrl(archive)}
                  download={`stardock-${archive.id}.tar.gz`}
                  aria-label={trans.__('Download the archive of %1', title || archive.id)}
                  title={trans.__('Download the archive of %1', title || archive.id)}
                >
                  <downloadIcon.react tag="span" elementSize="normal" />
                </a>
                {manifest.lock && props.onRebuild && (
                  <IconButton
                    icon={refreshIcon}
                    label={trans.__(
                      'Rebuild the environment of %1 with every recorded version pinned',
                      title || archive.id
                    )}
                    onClick={() => props.onRebuild?.(archive)}
                  />
                )}
              </ListItem>
            );
          })}
        </ul>
        {archives && archives.length > MAX_ARCHIVES && (
          <p className="jp-StarDock-hint">
            {trans._n(
              '%1 older archive is not listed.',
              '%1 older archives are not listed.',
              archives.length - MAX_ARCHIVES
            )}
          </p>
        )}
      </Section>
    </>
  );
}

/** issue 17: pause or resume (by the container's state) and suspend a running kernel. */
function PauseButtons(props: {
  kernel: IKernelInfo;
  title: string;
  trans: TranslationBundle;
  onAction: (kernelId: string, action: KernelAction) => void;
}): JSX.Element {
  const { kernel, title, trans, onAction } = props;
  const paused = kernel.state === 'paused';
  return (
    <>
      {paused ? (
        <IconButton
          icon={runIcon}
          label={trans.__('Resume the kernel %1', title)}
          onClick={() => onAction(kernel.id, 'resume')}
        />
      ) : (
        <IconButton
          icon={pauseIcon}
          label={trans.__('Pause the kernel %1: memory kept, no CPU used', title)}
          onClick={() => onAction(kernel.id, 'pause')}
          disabled={kernel.state !== 'running'}
        />
      )}
      <IconButton
        icon={saveIcon}
        label={trans.__('Suspend the kernel %1: save its variables and stop it', title)}
        onClick={() => onAction(kernel.id, 'suspend')}
      />
    </>
  );
}

/** issue 17: suspended kernels, each with what was saved, and a restore button. */
function SuspendedSection(props: {
  suspended: readonly ISuspendedKernel[];
  describe: (environment: string) => string;
  trans: TranslationBundle;
  onRestore: (kernelId: string) => void;
}): JSX.Element {
  const { trans } = props;
  return (
    <Section title={trans.__('Suspended kernels')}>
      <ul className="jp-StarDock-list">
        {props.suspended.map(record => {
          const title = props.describe(record.environment);
          const skipped = Object.keys(record.skipped);
          return (
            <ListItem
              key={record.kernel_id}
              title={title || record.kernel_id}
              details={[
                trans.__('suspended %1', Time.formatHuman(new Date(record.suspended_at * 1000))),
                trans.__('saved: %1', record.saved.join(', ') || trans.__('nothing')),
                skipped.length ? trans.__('not saved: %1', skipped.join(', ')) : ''
              ]}
              data={{ suspended: record.kernel_id }}
            >
              <IconButton
                icon={historyIcon}
                label={trans.__('Restore the kernel %1 with its variables', title)}
                onClick={() => props.onRestore(record.kernel_id)}
              />
            </ListItem>
          );
        })}
      </ul>
    </Section>
  );
}
