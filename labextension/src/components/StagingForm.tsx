import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useId, useState } from 'react';

import { formatBytes } from '../format';
import { IStagerState, IStagingView, Stager } from '../staging';

export interface IStagingFormProps {
  stager: Stager;
  trans: TranslationBundle;
}

/** Paste archive ids or URLs, name the dataset, and follow its staging (issue 19). */
export function StagingForm(props: IStagingFormProps): JSX.Element {
  const { stager, trans } = props;
  const [state, setState] = useState<IStagerState>(stager.state);
  const [files, setFiles] = useState('');
  const [name, setName] = useState('');
  const filesId = useId();
  const nameId = useId();
  useEffect(() => {
    const changed = (_: Stager, next: IStagerState) => setState(next);
    stager.changed.connect(changed);
    return () => {
      stager.changed.disconnect(changed);
    };
  }, [stager]);
  const request = state.request;
  const running = request !== null && ['queued', 'staging'].includes(request.state);
  return (
    <details className="jp-StarDock-staging">
      <summary>{trans.__('Stage files from an archive')}</summary>
      <label className="jp-StarDock-label" htmlFor={filesId}>
        {trans.__('File ids or URLs, one per line (archive:id)')}
      </label>
      <textarea
        id={filesId}
        className="jp-StarDock-editor"
        rows={4}
        value={files}
        onChange={event => setFiles(event.target.value)}
      />
      <label className="jp-StarDock-label" htmlFor={nameId}>
        {trans.__('Dataset name')}
      </label>
      <input
        id={nameId}
        className="jp-StarDock-input"
        value={name}
        onChange={event => setName(event.target.value)}
      />
      <div className="jp-StarDock-actions">
        <button
          className="jp-mod-styled jp-mod-accept jp-StarDock-button"
          disabled={running || state.posting || !files.trim()}
          onClick={() => void stager.stage(files, name)}
        >
          {trans.__('Stage')}
        </button>
        {running && (
          <button className="jp-mod-styled jp-mod-reject jp-StarDock-button" onClick={() => void stager.cancel()}>
            {trans.__('Cancel')}
          </button>
        )}
      </div>
      {request && <StagingProgress request={request} trans={trans} />}
      {state.error && (
        <p className="jp-StarDock-problem" role="alert">
          {state.error}
        </p>
      )}
    </details>
  );
}

function StagingProgress(props: { request: IStagingView; trans: TranslationBundle }): JSX.Element {
  const { request, trans } = props;
  const total = request.bytes_total;
  const value = total ? request.bytes_done / total : request.files_done / Math.max(1, request.files_total);
  const bytes = total
    ? trans.__('%1 of %2', formatBytes(request.bytes_done), formatBytes(total))
    : formatBytes(request.bytes_done);
  const percent = Math.round(Math.min(1, value) * 100);
  const text = trans.__(
    '%1/%2 files · %3 · %4',
    request.files_done,
    request.files_total,
    bytes,
    request.state
  );
  return (
    <>
      <div
        className="jp-StarDock-progress"
        role="progressbar"
        aria-label={trans.__('Staging %1', request.dataset)}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={text}
        data-state={request.state === 'complete' ? 'succeeded' : request.state}
      >
        <div className="jp-StarDock-progressBar" style={{ width: `${percent}%` }} />
      </div>
      <p className="jp-StarDock-buildState" role="status">
        {text}
      </p>
      {request.state === 'failed' && <p className="jp-StarDock-problem">{request.message}</p>}
      {request.state === 'complete' && (
        <p className="jp-StarDock-hint">
          {trans.__('The dataset %1 is staged; pick it above.', request.dataset)}
        </p>
      )}
    </>
  );
}
