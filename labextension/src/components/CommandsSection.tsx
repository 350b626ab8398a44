import { TranslationBundle } from '@jupyterlab/translation';
import React, { useId } from 'react';

import { StarDockModel } from '../model';
import { IDraft, IRecipeProblem, ProblemField } from '../recipe';
import { Problems } from './Problems';
import { Section } from './Section';

export interface ICommandsSectionProps {
  draft: IDraft;
  check: StarDockModel.ICheck;
  trans: TranslationBundle;
  onChange: (change: Partial<IDraft>) => void;
}

/**
 * The user's own Dockerfile steps: shell commands and extra packages, with the
 * server's policy errors inline and the Dockerfile they make.
 */
export function CommandsSection(props: ICommandsSectionProps): JSX.Element {
  const { draft, check, trans, onChange } = props;
  const rows = Math.min(12, Math.max(3, draft.commands.split('\n').length + 1));
  return (
    <Section title={trans.__('Custom commands')} busy={check.checking}>
      <Field
        label={trans.__(
          'Shell commands, one per line. Each runs as root in its own RUN step, after the apps.'
        )}
        value={draft.commands}
        rows={rows}
        placeholder={trans.__('for example: pip install astroquery')}
        problems={only(check.problems, 'commands')}
        trans={trans}
        onChange={commands => onChange({ commands })}
      />
      <Field
        label={trans.__('Extra Debian packages')}
        value={draft.aptPackages}
        placeholder={trans.__('for example: python3-scipy wcstools')}
        problems={only(check.problems, 'apt')}
        trans={trans}
        onChange={aptPackages => onChange({ aptPackages })}
      />
      <Field
        label={trans.__('Extra pip packages')}
        value={draft.pipPackages}
        placeholder={trans.__('for example: astroquery emcee>=3.1')}
        problems={only(check.problems, 'pip')}
        trans={trans}
        onChange={pipPackages => onChange({ pipPackages })}
      />
      <Problems
        id="jp-StarDock-recipeProblems"
        problems={only(check.problems, 'recipe')}
        trans={trans}
      />
      {check.error && <p className="jp-StarDock-hint">{check.error}</p>}
      {check.preview && (
        <details className="jp-StarDock-preview">
          <summary>
            {check.preview.exists
              ? trans.__('Dockerfile (built already: Build opens it at once)')
              : trans.__('Dockerfile')}
          </summary>
          <pre className="jp-StarDock-code">{check.preview.dockerfile}</pre>
        </details>
      )}
    </Section>
  );
}

/** A labelled text field (a code editor when it has `rows`) with its problems under it. */
function Field(props: {
  label: string;
  value: string;
  placeholder: string;
  /** Lines shown: a multi-line code editor instead of a one-line input. */
  rows?: number;
  problems: readonly IRecipeProblem[];
  trans: TranslationBundle;
  onChange: (value: string) => void;
}): JSX.Element {
  const id = useId();
  const problemsId = useId();
  const invalid = props.problems.length > 0;
  const common = {
    id,
    value: props.value,
    placeholder: props.placeholder,
    spellCheck: false,
    autoCapitalize: 'off',
    autoCorrect: 'off',
    'aria-invalid': invalid || undefined,
    'aria-describedby': invalid ? problemsId : undefined
  };
  return (
    <div className="jp-StarDock-field">
      <label className="jp-StarDock-label" htmlFor={id}>
        {props.label}
      </label>
      {props.rows ? (
        <textarea
          {...common}
          className="jp-mod-styled jp-StarDock-editor"
          rows={props.rows}
          onChange={event => props.onChange(event.target.value)}
        />
      ) : (
        <input
          {...common}
          type="text"
          className="jp-mod-styled jp-StarDock-input"
          onChange={event => props.onChange(event.target.value)}
        />
      )}
      <Problems id={problemsId} problems={props.problems} trans={props.trans} />
    </div>
  );
}

function only(problems: readonly IRecipeProblem[], field: ProblemField): IRecipeProblem[] {
  return problems.filter(p => p.field === field);
}
