import { TranslationBundle } from '@jupyterlab/translation';
import React, { useId, useMemo, useState } from 'react';

import { groupApps, IRecipeProblem, resolveApps } from '../recipe';
import { IApp } from '../tokens';
import { Problems } from './Problems';
import { Section } from './Section';

export interface IAppsSectionProps {
  /** The catalog; `null` while loading. */
  apps: readonly IApp[] | null;
  /** The apps the user ticked. */
  chosen: readonly string[];
  problems: readonly IRecipeProblem[];
  /** Catalog entries the server left out (shown to whoever can fix them). */
  catalogProblems: readonly string[];
  trans: TranslationBundle;
  onToggle: (id: string, chosen: boolean) => void;
}

/**
 * The catalog as checkboxes grouped by category, with a filter. Ticking an
 * app ticks what it requires; those stay ticked, with a note, while needed.
 */
export function AppsSection(props: IAppsSectionProps): JSX.Element {
  const { apps, chosen, problems, catalogProblems, trans } = props;
  const [filter, setFilter] = useState('');
  const idPrefix = useId();
  const problemsId = useId();
  const catalog = apps ?? [];
  const { selected, addedFor } = useMemo(
    () => resolveApps(catalog, chosen),
    [catalog, chosen]
  );
  const groups = useMemo(() => groupApps(catalog, filter), [catalog, filter]);
  const titleOf = (id: string): string => catalog.find(a => a.id === id)?.title ?? id;
  const hiddenSelected = [...selected].filter(
    id => !groups.some(g => g.apps.some(a => a.id === id))
  ).length;

  return (
    <Section
      title={trans.__('Apps')}
      busy={apps === null}
      tools={
        <span className="jp-StarDock-count">
          {trans._n('%1 selected', '%1 selected', selected.size)}
        </span>
      }
    >
      <input
        type="search"
        className="jp-mod-styled jp-StarDock-filter"
        placeholder={trans.__('Filter apps')}
        aria-label={trans.__('Filter apps')}
        value={filter}
        onChange={event => setFilter(event.target.value)}
      />
      <p className="jp-StarDock-note" role="status">
        {[...addedFor]
          .map(([id, needers]) =>
            trans.__(
              '%1 was ticked because %2 needs it.',
              titleOf(id),
              needers.map(titleOf).join(', ')
            )
          )
          .join(' ')}
      </p>
      {apps === null && <p className="jp-StarDock-hint">{trans.__('Loading the catalog…')}</p>}
      {apps !== null && groups.length === 0 && (
        <p className="jp-StarDock-hint">{trans.__('No app matches “%1”.', filter)}</p>
      )}
      {groups.map(group => (
        <fieldset key={group.category} className="jp-StarDock-group">
          <legend className="jp-StarDock-groupTitle">{group.category}</legend>
          {group.apps.map(app => {
            const id = `${idPrefix}-${app.id}`;
            const needers = addedFor.get(app.id);
            return (
              <div key={app.id} className="jp-StarDock-app" data-app={app.id}>
                <input
                  type="checkbox"
                  id={id}
                  checked={selected.has(app.id)}
                  // Focusable but fixed while another app needs it, so the note can be read.
                  aria-disabled={needers ? true : undefined}
                  aria-describedby={`${id}-description`}
                  onChange={event => {
                    if (!needers) {
                      props.onToggle(app.id, event.target.checked);
                    }
                  }}
                />
                <div className="jp-StarDock-appText">
                  <label htmlFor={id} className="jp-StarDock-appTitle">
                    {app.title}
                  </label>
                  <span className="jp-StarDock-appDescription" id={`${id}-description`}>
                    {app.description}
                    {needers && (
                      <span className="jp-StarDock-appNeeded">
                        {' '}
                        {trans.__('Needed by %1.', needers.map(titleOf).join(', '))}
                      </span>
                    )}
                  </span>
                </div>
              </div>
            );
          })}
        </fieldset>
      ))}
      {hiddenSelected > 0 && (
        <p className="jp-StarDock-hint">
          {trans._n(
            '%1 selected app is hidden by the filter.',
            '%1 selected apps are hidden by the filter.',
            hiddenSelected
          )}
        </p>
      )}
      <Problems id={problemsId} problems={problems} trans={trans} />
      {catalogProblems.length > 0 && (
        <details className="jp-StarDock-catalogProblems">
          <summary>
            {trans._n(
              '%1 catalog entry was left out',
              '%1 catalog entries were left out',
              catalogProblems.length
            )}
          </summary>
          <ul>
            {catalogProblems.map(problem => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </details>
      )}
    </Section>
  );
}
