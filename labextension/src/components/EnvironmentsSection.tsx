import { Time } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import { deleteIcon, editIcon, notebookIcon } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { formatBytes } from '../format';
import { IApp, IEnvironment } from '../tokens';
import { IconButton, ListItem, Section, ShowAll } from './Section';

export interface IEnvironmentsSectionProps {
  /** `null` while loading. */
  environments: readonly IEnvironment[] | null;
  apps: readonly IApp[] | null;
  /** The dataset title an opened environment gets, or `null` for none. */
  datasetTitle: string | null;
  trans: TranslationBundle;
  onOpen: (environment: IEnvironment) => void;
  onEdit: (environment: IEnvironment) => void;
  onDelete: (environment: IEnvironment) => void;
}

/** How many environments are listed before "Show all". */
const SHOWN = 6;

/** Built environments, newest first, with open, edit and delete. */
export function EnvironmentsSection(props: IEnvironmentsSectionProps): JSX.Element {
  const { environments, apps, datasetTitle, trans } = props;
  const [all, setAll] = useState(false);
  const sorted = [...(environments ?? [])].sort((a, b) =>
    b.created.localeCompare(a.created)
  );
  const shown = all ? sorted : sorted.slice(0, SHOWN);
  return (
    <Section title={trans.__('Environments')} busy={environments === null}>
      {environments !== null && !sorted.length && (
        <p className="jp-StarDock-hint">{trans.__('Nothing built yet.')}</p>
      )}
      <ul className="jp-StarDock-list">
        {shown.map(environment => {
          const summary = recipeSummary(environment, apps, trans);
          return (
            <ListItem
              key={environment.id}
              title={summary}
              details={[
                environment.id,
                formatBytes(environment.size),
                environment.created
                  ? trans.__('built %1', Time.formatHuman(environment.created))
                  : '',
                // issue 17: the last kernel start or build request it answered
                environment.last_used
                  ? trans.__('used %1', Time.formatHuman(new Date(environment.last_used * 1000)))
                  : ''
              ]}
              data={{ environment: environment.id }}
            >
              <IconButton
                icon={notebookIcon}
                label={
                  datasetTitle
                    ? trans.__('Open a notebook in %1 with %2', summary, datasetTitle)
                    : trans.__('Open a notebook in %1', summary)
                }
                onClick={() => props.onOpen(environment)}
              />
              <IconButton
                icon={editIcon}
                label={trans.__('Edit a copy of the recipe of %1', summary)}
                onClick={() => props.onEdit(environment)}
              />
              <IconButton
                icon={deleteIcon}
                label={trans.__('Delete %1', summary)}
                onClick={() => props.onDelete(environment)}
              />
            </ListItem>
          );
        })}
      </ul>
      <ShowAll
        all={all}
        shown={SHOWN}
        total={sorted.length}
        showAll={trans.__('Show all %1 environments', sorted.length)}
        showNewest={trans.__('Show the newest %1 only', SHOWN)}
        onToggle={() => setAll(!all)}
      />
    </Section>
  );
}

/** `SWarp, PSFEx + 2 commands`: what an environment holds, in a few words. */
export function recipeSummary(
  environment: Pick<IEnvironment, 'apps' | 'recipe'>,
  apps: readonly IApp[] | null,
  trans: TranslationBundle
): string {
  const titles = environment.apps.map(id => apps?.find(a => a.id === id)?.title ?? id);
  const extras = [
    (environment.recipe.commands ?? []).length,
    (environment.recipe.apt_packages ?? []).length +
      (environment.recipe.pip_packages ?? []).length
  ];
  const parts = [titles.length ? titles.join(', ') : trans.__('Base image')];
  if (extras[0]) {
    parts.push(trans._n('%1 command', '%1 commands', extras[0]));
  }
  if (extras[1]) {
    parts.push(trans._n('%1 package', '%1 packages', extras[1]));
  }
  return parts.join(' + ');
}
