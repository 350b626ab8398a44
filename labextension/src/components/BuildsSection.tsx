import { Time } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import { listIcon } from '@jupyterlab/ui-components';
import React, { useState } from 'react';

import { IApp, IBuild } from '../tokens';
import { recipeSummary } from './EnvironmentsSection';
import { IconButton, Section, ShowAll } from './Section';

export interface IBuildsSectionProps {
  /** This user's builds, newest first; `null` while loading. */
  builds: readonly IBuild[] | null;
  apps: readonly IApp[] | null;
  /** The build the Build section shows, if any. */
  shown: string | null;
  trans: TranslationBundle;
  onShow: (build: IBuild) => void;
}

/** How many builds are listed before "Show all". */
const SHOWN = 5;

/**
 * Every build of this user, whatever started it (this panel, another tab, the
 * CLI, the magics), with its state and, for a failed one, what failed.
 */
export function BuildsSection(props: IBuildsSectionProps): JSX.Element {
  const { builds, apps, shown, trans } = props;
  const [all, setAll] = useState(false);
  const sorted = [...(builds ?? [])].sort((a, b) => b.created - a.created);
  const listed = all ? sorted : sorted.slice(0, SHOWN);
  return (
    <Section
      title={trans.__('Build history')}
      className="jp-StarDock-history"
      busy={builds === null}
    >
      {builds !== null && !sorted.length && (
        <p className="jp-StarDock-hint">{trans.__('No builds yet.')}</p>
      )}
      <ul className="jp-StarDock-list">
        {listed.map(build => {
          const summary = recipeSummary(
            { apps: build.recipe.apps ?? [], recipe: build.recipe },
            apps,
            trans
          );
          const problem = build.state === 'failed' ? firstLine(build) : null;
          return (
            <li
              key={build.id}
              className="jp-StarDock-item"
              data-build={build.id}
              data-state={build.state}
              aria-current={build.id === shown || undefined}
            >
              <div className="jp-StarDock-itemText">
                <span className="jp-StarDock-itemTitle">{summary}</span>
                <span className="jp-StarDock-itemDetail">
                  {[
                    stateLabel(build, trans),
                    Time.formatHuman(new Date(build.created * 1000)),
                    build.id
                  ].join(' · ')}
                </span>
                {problem && <span className="jp-StarDock-itemError">{problem}</span>}
              </div>
              <IconButton
                icon={listIcon}
                label={trans.__('Show the log of build %1 (%2)', build.id, summary)}
                onClick={() => props.onShow(build)}
              />
            </li>
          );
        })}
      </ul>
      <ShowAll
        all={all}
        shown={SHOWN}
        total={sorted.length}
        showAll={trans.__('Show all %1 builds', sorted.length)}
        showNewest={trans.__('Show the newest %1 only', SHOWN)}
        onToggle={() => setAll(!all)}
      />
    </Section>
  );
}

function stateLabel(build: IBuild, trans: TranslationBundle): string {
  switch (build.state) {
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running, %1 %', Math.round(build.progress * 100));
    case 'succeeded':
      return trans.__('built');
    case 'cancelled':
      return trans.__('cancelled');
    default:
      return trans.__('failed');
  }
}

/** What failed, in one line: the failed step's sentence, or the error's first line. */
function firstLine(build: IBuild): string | null {
  return build.failure?.summary ?? build.error?.split('\n')[0] ?? null;
}
