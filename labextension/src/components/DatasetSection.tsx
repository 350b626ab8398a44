import { TranslationBundle } from '@jupyterlab/translation';
import React, { useId } from 'react';

import { datasetLabel } from '../format';
import { IRecipeProblem } from '../recipe';
import { IDataset } from '../tokens';
import { Stager } from '../staging';
import { Problems } from './Problems';
import { Section } from './Section';
import { StagingForm } from './StagingForm';

export interface IDatasetSectionProps {
  /** `null` while loading. */
  datasets: readonly IDataset[] | null;
  selected: string | null;
  problems: readonly IRecipeProblem[];
  trans: TranslationBundle;
  onSelect: (id: string | null) => void;
  /** issue 19: stage a dataset from archive files (absent: no staging form). */
  stager?: Stager;
}

/** The dataset picker: what the kernel sees, read-only, at /data. */
export function DatasetSection(props: IDatasetSectionProps): JSX.Element {
  const { datasets, selected, problems, trans } = props;
  const selectId = useId();
  const problemsId = useId();
  const current = datasets?.find(d => d.id === selected) ?? null;
  return (
    <Section title={trans.__('Dataset')} busy={datasets === null}>
      <label className="jp-StarDock-label" htmlFor={selectId}>
        {trans.__('Mounted read-only at /data in the kernel')}
      </label>
      <select
        id={selectId}
        className="jp-mod-styled jp-StarDock-select"
        value={selected ?? ''}
        onChange={event => props.onSelect(event.target.value || null)}
        aria-invalid={problems.length > 0 || undefined}
        aria-describedby={problems.length ? problemsId : undefined}
      >
        <option value="">
          {datasets === null ? trans.__('Loading datasets…') : trans.__('No dataset')}
        </option>
        {selected && !current && datasets !== null && (
          <option value={selected}>{trans.__('%1 (not on this server)', selected)}</option>
        )}
        {datasets?.map(dataset => (
          <option
            key={dataset.id}
            value={dataset.id}
            disabled={!dataset.exists || !!dataset.problem}
          >
            {datasetLabel(dataset, trans)}
          </option>
        ))}
      </select>
      {current?.description && <p className="jp-StarDock-hint">{current.description}</p>}
      {current?.problem && <p className="jp-StarDock-problem">{current.problem}</p>}
      <Problems id={problemsId} problems={problems} trans={trans} />
      {props.stager && <StagingForm stager={props.stager} trans={trans} />}
    </Section>
  );
}
