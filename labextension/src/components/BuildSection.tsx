import { TranslationBundle } from '@jupyterlab/translation';
import { buildIcon, consoleIcon, notebookIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

import { formatElapsed } from '../format';
import { StarDockModel } from '../model';
import { LogView } from './LogView';
import { Section, TextButton } from './Section';

export interface IBuildSectionProps {
  build: StarDockModel.IBuildView | null;
  /** Why Build cannot be pressed now, or `null` when it can. */
  blocked: string | null;
  /** Whether the fields changed since the shown build. */
  changed: boolean;
  trans: TranslationBundle;
  onBuild: () => void;
  onCancel: () => void;
  onOpenNotebook: () => void;
  onOpenConsole: () => void;
  onCopyLog: (text: string) => void;
  /** issue 18: the GPU opt-in, and whether the engine offers a GPU runtime at all. */
  gpus?: boolean;
  gpuRuntime?: boolean;
  onGpus?: (gpus: boolean) => void;
}

/** Build, its progress and live log, and what to open once it is built. */
export function BuildSection(props: IBuildSectionProps): JSX.Element {
  const { build, blocked, changed, trans } = props;
  const record = build?.record ?? null;
  const active =
    !!build && (build.submitting || record?.state === 'queued' || record?.state === 'running');
  const now = useNow(active);
  const progress = build?.ready ? 1 : (record?.progress ?? 0);
  const percent = Math.round(progress * 100);
  const elapsed = record?.started
    ? ((record.finished ?? now / 1000) - record.started)
    : null;

  return (
    <Section title={trans.__('Build')} className="jp-StarDock-build" busy={active}>
      {/* Only where it can matter: an engine with a GPU runtime, or a recipe that asks. */}
      {props.onGpus && (props.gpuRuntime || props.gpus) && (
        <GpuOptIn
          checked={!!props.gpus}
          offered={!!props.gpuRuntime}
          trans={trans}
          onChange={props.onGpus}
        />
      )}
      <div className="jp-StarDock-actions">
        {active ? (
          <TextButton
            label={trans.__('Cancel')}
            kind="warn"
            onClick={props.onCancel}
            disabled={!record || record.following}
            title={
              record?.following
                ? trans.__(
                    'An identical build was already running when you asked: you follow it, and only the user who started it can cancel it.'
                  )
                : undefined
            }
          />
        ) : (
          <TextButton
            label={trans.__('Build')}
            icon={buildIcon}
            kind="accept"
            onClick={props.onBuild}
            disabled={blocked !== null}
            title={blocked ?? trans.__('Build the environment for this recipe')}
          />
        )}
        {elapsed !== null && (
          <span className="jp-StarDock-elapsed" aria-label={trans.__('Elapsed time')}>
            {formatElapsed(elapsed)}
          </span>
        )}
      </div>
      {blocked && !active && <p className="jp-StarDock-hint">{blocked}</p>}
      {build && (
        <>
          <div
            className="jp-StarDock-progress"
            role="progressbar"
            aria-label={trans.__('Build progress')}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={percent}
            aria-valuetext={progressText(build, percent, trans)}
            data-state={build.ready ? 'ready' : (record?.state ?? 'submitting')}
          >
            <div className="jp-StarDock-progressBar" style={{ width: `${percent}%` }} />
          </div>
          <p className="jp-StarDock-buildState" role="status">
            {progressText(build, percent, trans)}
          </p>
          {build.error && (
            <p className="jp-StarDock-problem jp-StarDock-buildError" role="alert">
              {build.error}
            </p>
          )}
          {build.ready && (
            <div className="jp-StarDock-actions" data-ready={build.ready.environment}>
              <TextButton
                label={trans.__('Open notebook')}
                icon={notebookIcon}
                kind="accept"
                onClick={props.onOpenNotebook}
              />
              <TextButton
                label={trans.__('Open console')}
                icon={consoleIcon}
                onClick={props.onOpenConsole}
              />
            </div>
          )}
          {build.ready && changed && (
            <p className="jp-StarDock-hint">
              {trans.__(
                'The fields changed since this build; these open the environment built above. Press Build for the changes.'
              )}
            </p>
          )}
          {(build.log.length > 0 || active) && (
            <LogView
              lines={build.log}
              dropped={build.dropped}
              trans={trans}
              onCopy={props.onCopyLog}
            />
          )}
        </>
      )}
    </Section>
  );
}

/** issue 18: the environment's GPU opt-in, saying when the engine has no GPU runtime. */
function GpuOptIn(props: {
  checked: boolean;
  offered: boolean;
  trans: TranslationBundle;
  onChange: (gpus: boolean) => void;
}): JSX.Element {
  const { trans } = props;
  return (
    <div className="jp-StarDock-gpus">
      <label>
        <input
          type="checkbox"
          checked={props.checked}
          onChange={event => props.onChange(event.currentTarget.checked)}
        />{' '}
        {trans.__('Kernels of this environment use GPUs')}
      </label>
      {!props.offered && (
        <p className="jp-StarDock-hint">
          {trans.__(
            'This engine offers no GPU runtime: kernels of a GPU environment will not start here until the operator sets one up.'
          )}
        </p>
      )}
    </div>
  );
}

function progressText(
  build: StarDockModel.IBuildView,
  percent: number,
  trans: TranslationBundle
): string {
  const record = build.record;
  if (build.ready) {
    return record
      ? trans.__('Built (100 %). Environment %1 is ready.', build.ready.environment)
      : trans.__('Built already (100 %). Environment %1 is ready.', build.ready.environment);
  }
  if (build.submitting || !record) {
    return build.error ? trans.__('Not started.') : trans.__('Starting the build…');
  }
  switch (record.state) {
    case 'queued':
      return trans.__('Waiting for a free builder…');
    case 'running':
      return record.steps
        ? trans.__('Step %1 of %2 (%3 %)', record.step, record.steps, percent)
        : trans.__('Starting (%1 %)', percent);
    case 'succeeded':
      return build.replay
        ? trans.__('Built (100 %). Open it from Environments below.')
        : trans.__('Built (%1 %); preparing the kernel…', percent);
    case 'cancelled':
      return trans.__('Cancelled at %1 %.', percent);
    default:
      return trans.__('Failed at %1 %.', percent);
  }
}

/** The time now, refreshed every second while `active`. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) {
      return;
    }
    setNow(Date.now());
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [active]);
  return now;
}
