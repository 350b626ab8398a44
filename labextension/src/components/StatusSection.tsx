import { TranslationBundle } from '@jupyterlab/translation';
import React, { useId } from 'react';

import { formatBytes, formatMemory } from '../format';
import { StarDockModel } from '../model';
import { IBaseImageInfo, IEngineInfo, IPoolStatus } from '../tokens';

export interface IStatusSectionProps {
  state: StarDockModel.IState;
  trans: TranslationBundle;
}

/** The server extension, the engine and the base image, as last reported. */
export function StatusSection(props: IStatusSectionProps): JSX.Element {
  const { state, trans } = props;
  const headingId = useId();
  const status = state.status;
  const unknown = state.phase === 'loading' ? trans.__('checking…') : '—';
  const image = status?.base_image ?? null;

  return (
    <section
      className="jp-StarDock-section"
      aria-labelledby={headingId}
      aria-busy={state.refreshing}
    >
      <h3 className="jp-StarDock-sectionTitle" id={headingId}>
        {trans.__('Status')}
      </h3>
      <dl className="jp-StarDock-facts">
        <Fact label={trans.__('Server extension')}>
          {status ? trans.__('version %1', status.version) : unknown}
        </Fact>
        {status?.engine ? (
          <EngineFacts engine={status.engine} trans={trans} />
        ) : (
          <Fact label={trans.__('Engine')}>
            {state.phase === 'engine-down' ? trans.__('not reachable') : unknown}
          </Fact>
        )}
        <Fact label={trans.__('Base image')}>
          {image ? baseImageText(image, trans) : unknown}
        </Fact>
        {/* issue 14: the warm pool, when the server reports one */}
        {status?.pool && (
          <Fact label={trans.__('Warm kernels')}>{poolText(status.pool, trans)}</Fact>
        )}
      </dl>
      {image && !image.exists && image.hint && (
        <p className="jp-StarDock-hint">{image.hint}</p>
      )}
      {state.updated && (
        <p className="jp-StarDock-updated">
          {trans.__('Last checked at %1', state.updated.toLocaleTimeString())}
        </p>
      )}
    </section>
  );
}

function Fact(props: { label: string; children: React.ReactNode }): JSX.Element {
  return (
    <div className="jp-StarDock-fact">
      <dt>{props.label}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

function EngineFacts(props: {
  engine: IEngineInfo;
  trans: TranslationBundle;
}): JSX.Element {
  const { engine, trans } = props;
  return (
    <>
      <Fact label={trans.__('Engine')}>
        {engine.api_version
          ? trans.__('version %1 (API %2)', engine.version, engine.api_version)
          : trans.__('version %1', engine.version)}
      </Fact>
      <Fact label={trans.__('Storage driver')}>
        {engine.storage_driver || '—'}
      </Fact>
      <Fact label={trans.__('Engine OS')}>
        {[engine.os, engine.architecture].filter(Boolean).join(', ') || '—'}
      </Fact>
      {engine.address && (
        <Fact label={trans.__('Engine address')}>
          <code>{engine.address}</code>
        </Fact>
      )}
    </>
  );
}

function baseImageText(image: IBaseImageInfo, trans: TranslationBundle): string {
  if (!image.exists) {
    return trans.__('%1 (not built yet)', image.name);
  }
  return image.size
    ? trans.__('%1 (%2)', image.name, formatBytes(image.size))
    : image.name;
}

/** Issue 14: "2 of 4 ready, 80 MiB of a 512 MiB budget". */
export function poolText(pool: IPoolStatus, trans: TranslationBundle): string {
  return trans.__(
    '%1 of %2 ready, %3 of a %4 budget',
    pool.ready,
    pool.capacity,
    formatMemory(pool.memory_bytes), // uicover fix: binary units, as pool_memory is set
    formatMemory(pool.memory_budget_bytes)
  );
}
