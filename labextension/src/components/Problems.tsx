import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { IRecipeProblem } from '../recipe';

export interface IProblemsProps {
  /** Referenced by the field's `aria-describedby`. */
  id: string;
  problems: readonly IRecipeProblem[];
  trans: TranslationBundle;
}

/** The server's policy sentences under the field they are about. */
export function Problems(props: IProblemsProps): JSX.Element | null {
  const { id, problems, trans } = props;
  if (!problems.length) {
    return null;
  }
  return (
    <ul id={id} className="jp-StarDock-problems" role="alert">
      {problems.map((problem, index) => (
        <li key={index} className="jp-StarDock-problem" data-line={problem.line ?? undefined}>
          {problem.line !== null && (
            <span className="jp-StarDock-problemLine">
              {trans.__('Line %1:', problem.line)}{' '}
            </span>
          )}
          {problem.message}
        </li>
      ))}
    </ul>
  );
}
